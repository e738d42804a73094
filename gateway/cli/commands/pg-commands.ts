// jitgate pg TARGET: the connection string and password (the grant's token) for the
// caller's live grant on a PostgreSQL target, or psql started with them.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Grant } from "../../../policies/index.js";
import { enc, type Command } from "../command.js";
import { enginePort } from "../engine-port.js";
import { CliError, UsageError } from "../errors.js";
import { jitgateHome, loadProfile } from "../profile.js";

interface PgToken { grantId: string; token: string; user: string; target: string; login: string; notAfter: string }

/** libpq keyword/value quoting: values with spaces or quotes go in single quotes. */
const kv = (k: string, v: string) => `${k}=${/^[^\s'\\]+$/.test(v) ? v : `'${v.replace(/['\\]/g, "\\$&")}'`}`;

export const pgCommands: Command[] = [
  {
    name: "pg",
    usage: "jitgate pg TARGET [--db NAME] [--login LOGIN] [--host HOST] [--port N] [--psql]",
    summary: "print the psql connection and password for your live grant on a PostgreSQL target, or run psql with them (--psql)",
    args: [1, 1],
    options: {
      db: { type: "string" },
      login: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      psql: { type: "boolean" },
    },
    async run(ctx) {
      const target = ctx.positionals[0] ?? "";
      const login = ctx.values.login as string | undefined;
      const port = await enginePort(ctx, "postgres", "JITGATE_PG_PORT", 6432);
      const profile = loadProfile(ctx.env);
      const grants = await ctx.api<Grant[]>("GET", `/api/v1/grants?active=true&user=${enc(profile.user)}`);
      const mine = grants.filter((g) => g.user === profile.user && g.target === target && g.state === "active" && (login === undefined || g.login === login));
      if (mine.length === 0) {
        throw new CliError("NO_ACTIVE_GRANT", `no active grant on ${target}${login ? ` for ${login}` : ""}: request one with: jitgate request ${target} --login ${login ?? "LOGIN"} --for 30m --reason "..."`);
      }
      const logins = [...new Set(mine.map((g) => g.login))];
      if (logins.length > 1) throw new UsageError(`you hold grants on ${target} for ${logins.join(", ")}: choose one with --login`);
      const grant = mine[0] as Grant;
      const t = await ctx.api<PgToken>("POST", `/api/v1/grants/${enc(grant.id)}/pg-token`);
      const host = (ctx.values.host as string | undefined) ?? new URL(profile.server).hostname.replace(/^\[|\]$/g, "");
      const db = `${login ? `${t.login}@` : ""}${target}${ctx.values.db ? `/${String(ctx.values.db)}` : ""}`;
      const parts = [kv("host", host), kv("port", String(port)), kv("user", t.user), kv("dbname", db), kv("sslmode", profile.ca ? "verify-full" : "require")];
      if (profile.ca) {
        const caFile = join(jitgateHome(ctx.env), "ca.pem");
        writeFileSync(caFile, profile.ca, { mode: 0o644 });
        parts.push(kv("sslrootcert", caFile));
      }
      const connection = parts.join(" ");
      if (ctx.values.psql === true) {
        return await new Promise<number>((resolve, reject) => {
          const child = spawn("psql", [connection], { stdio: "inherit", env: { ...ctx.env, PGPASSWORD: t.token } });
          child.on("error", (err: NodeJS.ErrnoException) =>
            reject(new CliError("PSQL_NOT_FOUND", err.code === "ENOENT" ? "psql is not installed here: install the PostgreSQL client (apt-get install postgresql-client), or connect with the printed settings" : err.message)));
          child.on("exit", (code) => resolve(code ?? 1));
        });
      }
      ctx.show({ connection, password: t.token, grantId: t.grantId, login: t.login, notAfter: t.notAfter }, () =>
        [
          `connection: ${connection}`,
          `password:   ${t.token}`,
          `valid until ${t.notAfter} (grant ${t.grantId}, login ${t.login}); the database goes after the target: dbname=${target}/DATABASE`,
          "",
          `PGPASSWORD='${t.token}' psql "${connection}"`,
        ].join("\n"),
      );
    },
  },
];
