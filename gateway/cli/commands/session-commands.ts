// Logging in and out, and one's own password.
import { readFileSync } from "node:fs";
import { callApi } from "../client.js";
import { apiFromProfile, type Command } from "../command.js";
import { CliError, UsageError } from "../errors.js";
import { loadProfile, saveProfile } from "../profile.js";
import { readSecret } from "../prompt.js";

interface LoginReply {
  token: string;
  expiresAt: string;
  user: { name: string; roles: string[]; mustChangePassword: boolean };
}

export const sessionCommands: Command[] = [
  {
    name: "login",
    usage: "jitgate login --server URL --user NAME [--ca FILE] [--password-stdin]",
    summary: "log in; the password comes from a prompt, JITGATE_PASSWORD or standard input",
    args: [0, 0],
    options: { server: { type: "string" }, user: { type: "string" }, ca: { type: "string" }, "password-stdin": { type: "boolean" } },
    async run(ctx) {
      const server = ctx.values.server as string | undefined;
      const user = ctx.values.user as string | undefined;
      if (!server || !user) throw new UsageError("login needs --server URL and --user NAME");
      let ca: string | null = null;
      if (ctx.values.ca) {
        try {
          ca = readFileSync(ctx.values.ca as string, "utf8");
        } catch {
          throw new UsageError(`cannot read the CA file ${ctx.values.ca as string}`);
        }
      }
      const password = await readSecret("Password", { envName: "JITGATE_PASSWORD", fromStdin: ctx.values["password-stdin"] === true, env: ctx.env });
      const reply = await callApi<LoginReply>({ server, ca, token: null }, "POST", "/api/v1/auth/login", { user, password });
      saveProfile({ server: new URL(server).origin, user: reply.user.name, ca, token: reply.token, expiresAt: reply.expiresAt }, ctx.env);
      ctx.show({ user: reply.user, expiresAt: reply.expiresAt }, () =>
        `logged in as ${reply.user.name} (${reply.user.roles.join(", ")}) until ${reply.expiresAt}` +
        (reply.user.mustChangePassword ? "\nyour password is a one-time password: set your own with jitgate passwd" : ""));
    },
  },
  {
    name: "logout",
    usage: "jitgate logout",
    summary: "revoke this CLI's token",
    args: [0, 0],
    async run(ctx) {
      const profile = loadProfile(ctx.env);
      await callApi(apiFromProfile(ctx.env), "POST", "/api/v1/auth/logout").catch((err: unknown) => {
        if (!(err instanceof CliError && err.status === 401)) throw err;
      });
      saveProfile({ ...profile, token: "" }, ctx.env);
      ctx.show({ loggedOut: true }, () => "logged out");
    },
  },
  {
    name: "whoami",
    usage: "jitgate whoami",
    summary: "show the logged-in user",
    args: [0, 0],
    async run(ctx) {
      const me = await ctx.api<{ name: string; roles: string[]; groups: string[]; expiresAt: string | null }>("GET", "/api/v1/me");
      ctx.show(me, () => `${me.name} (${me.roles.join(", ")})${me.groups.length ? ` groups: ${me.groups.join(", ")}` : ""}${me.expiresAt ? ` expires ${me.expiresAt}` : ""}`);
    },
  },
  {
    name: "passwd",
    usage: "jitgate passwd [--password-stdin]",
    summary: "change your password (JITGATE_PASSWORD is the current one, JITGATE_NEW_PASSWORD the new one)",
    args: [0, 0],
    options: { "password-stdin": { type: "boolean" } },
    async run(ctx) {
      const current = await readSecret("Current password", { envName: "JITGATE_PASSWORD", env: ctx.env });
      const password = await readSecret("New password", { envName: "JITGATE_NEW_PASSWORD", fromStdin: ctx.values["password-stdin"] === true, env: ctx.env });
      await ctx.api("POST", "/api/v1/me/password", { current, password });
      ctx.show({ changed: true }, () => "password changed; other sessions were logged out, log in again with jitgate login");
    },
  },
];
