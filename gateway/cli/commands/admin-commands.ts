// Users, targets, accounts and policies: the admin's inventory.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { enc, type Command } from "../command.js";
import { UsageError } from "../errors.js";
import { table, when } from "../output.js";
import { readStdin } from "../prompt.js";

interface UserView { name: string; roles: string[]; groups: string[]; expiresAt: string | null; disabled: boolean; mustChangePassword: boolean }
interface TargetView { name: string; kind: string; address: string; labels: Record<string, string> }
interface AccountView { targetName: string; login: string; auth: string; hasSecret: boolean }

const list = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((s) => String(s).split(",")).map((s) => s.trim()).filter(Boolean));

function parseLabels(values: unknown, flag = "--label"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list(values)) {
    const i = item.indexOf("=");
    if (i <= 0) throw new UsageError(`${flag} takes KEY=VALUE, not ${JSON.stringify(item)}`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

const userTable = (rows: UserView[]) =>
  table(rows, [
    ["name", (u) => u.name],
    ["roles", (u) => u.roles.join(",")],
    ["groups", (u) => u.groups.join(",") || "-"],
    ["expires", (u) => when(u.expiresAt)],
    ["status", (u) => (u.disabled ? "disabled" : u.expiresAt && Date.parse(u.expiresAt) <= Date.now() ? "expired" : u.mustChangePassword ? "must change password" : "active")],
  ]);

export const adminCommands: Command[] = [
  {
    name: "users",
    usage: "jitgate users",
    summary: "list users",
    args: [0, 0],
    async run(ctx) {
      const rows = await ctx.api<UserView[]>("GET", "/api/v1/users");
      ctx.show(rows, () => userTable(rows));
    },
  },
  {
    name: "users add",
    usage: "jitgate users add NAME --role ROLE [--role ROLE] [--group G] [--expires DATE] [--password-stdin]",
    summary: "create a user; without --password-stdin a one-time password is generated and printed once",
    args: [1, 1],
    options: { role: { type: "string", multiple: true }, group: { type: "string", multiple: true }, expires: { type: "string" }, "password-stdin": { type: "boolean" } },
    async run(ctx) {
      const roles = list(ctx.values.role);
      if (roles.length === 0) throw new UsageError("users add needs at least one --role (requester, approver, admin, auditor)");
      const generated = ctx.values["password-stdin"] ? null : randomBytes(18).toString("base64url");
      const password = generated ?? (await readStdin());
      const body = { name: ctx.positionals[0], roles, groups: list(ctx.values.group), expiresAt: (ctx.values.expires as string | undefined) ?? null, password };
      const user = await ctx.api<UserView>("POST", "/api/v1/users", body);
      ctx.show({ ...user, ...(generated ? { oneTimePassword: generated } : {}) }, () =>
        `created ${user.name} (${user.roles.join(", ")})${user.expiresAt ? `, expires ${user.expiresAt}` : ""}` +
        (generated ? `\none-time password (shown once; to be changed at first login): ${generated}` : ""));
    },
  },
  {
    name: "users update",
    usage: "jitgate users update NAME [--role ROLE]... [--group G]... [--expires DATE|never] [--disable|--enable] [--password-stdin]",
    summary: "change a user; an earlier --expires ends their open grants at that instant",
    args: [1, 1],
    options: {
      role: { type: "string", multiple: true }, group: { type: "string", multiple: true }, expires: { type: "string" },
      disable: { type: "boolean" }, enable: { type: "boolean" }, "password-stdin": { type: "boolean" },
    },
    async run(ctx) {
      const v = ctx.values;
      if (v.disable && v.enable) throw new UsageError("give --disable or --enable, not both");
      const body: Record<string, unknown> = {};
      if (v.role) body.roles = list(v.role);
      if (v.group) body.groups = list(v.group);
      if (v.expires) body.expiresAt = v.expires === "never" ? null : v.expires;
      if (v.disable) body.disabled = true;
      if (v.enable) body.disabled = false;
      if (v["password-stdin"]) body.password = await readStdin();
      if (Object.keys(body).length === 0) throw new UsageError("nothing to change: give --role, --group, --expires, --disable, --enable or --password-stdin");
      const user = await ctx.api<UserView>("PATCH", `/api/v1/users/${enc(ctx.positionals[0] ?? "")}`, body);
      ctx.show(user, () => userTable([user]));
    },
  },
  {
    name: "targets",
    usage: "jitgate targets",
    summary: "list targets",
    args: [0, 0],
    async run(ctx) {
      const rows = await ctx.api<TargetView[]>("GET", "/api/v1/targets");
      ctx.show(rows, () => table(rows, [["name", (t) => t.name], ["kind", (t) => t.kind], ["address", (t) => t.address],
        ["labels", (t) => Object.entries(t.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-"]]));
    },
  },
  {
    name: "targets add",
    usage: "jitgate targets add NAME --kind ssh|postgres|http --address HOST:PORT [--label KEY=VALUE]...",
    summary: "add a target",
    args: [1, 1],
    options: { kind: { type: "string" }, address: { type: "string" }, label: { type: "string", multiple: true } },
    async run(ctx) {
      if (!ctx.values.kind || !ctx.values.address) throw new UsageError("targets add needs --kind and --address");
      const t = await ctx.api<TargetView>("POST", "/api/v1/targets", {
        name: ctx.positionals[0], kind: ctx.values.kind, address: ctx.values.address, labels: parseLabels(ctx.values.label),
      });
      ctx.show(t, () => `added ${t.kind} target ${t.name} at ${t.address}`);
    },
  },
  {
    name: "accounts",
    usage: "jitgate accounts [TARGET]",
    summary: "list accounts",
    args: [0, 1],
    async run(ctx) {
      const q = ctx.positionals[0] ? `?target=${enc(ctx.positionals[0])}` : "";
      const rows = await ctx.api<AccountView[]>("GET", `/api/v1/accounts${q}`);
      ctx.show(rows, () => table(rows, [["target", (a) => a.targetName], ["login", (a) => a.login], ["auth", (a) => a.auth], ["secret", (a) => (a.hasSecret ? "in vault" : "-")]]));
    },
  },
  {
    name: "accounts add",
    usage: "jitgate accounts add TARGET LOGIN --auth password|key|certificate|ephemeral [--secret-stdin] [--option KEY=VALUE]...",
    summary: "add an account on a target; --secret-stdin reads its password or private key into the vault; options like database=NAME, rotateVia=LOGIN",
    args: [2, 2],
    options: { auth: { type: "string" }, "secret-stdin": { type: "boolean" }, option: { type: "string", multiple: true } },
    async run(ctx) {
      if (!ctx.values.auth) throw new UsageError("accounts add needs --auth password|key|certificate|ephemeral");
      const [target, login] = ctx.positionals;
      const secret = ctx.values["secret-stdin"] ? await readStdin() : undefined;
      const options = parseLabels(ctx.values.option, "--option");
      const a = await ctx.api<AccountView>("POST", `/api/v1/targets/${enc(target ?? "")}/accounts`, { login, auth: ctx.values.auth, options, ...(secret !== undefined ? { secret } : {}) });
      ctx.show(a, () => `added account ${a.login} on ${a.targetName} (auth: ${a.auth}${a.hasSecret ? ", secret in the vault" : ""})`);
    },
  },
  {
    name: "accounts set-secret",
    usage: "jitgate accounts set-secret TARGET LOGIN --secret-stdin [--reason TEXT]",
    summary: "store a new version of an account's password or key in the vault (never shown again)",
    args: [2, 2],
    options: { "secret-stdin": { type: "boolean" }, reason: { type: "string" } },
    async run(ctx) {
      if (!ctx.values["secret-stdin"]) throw new UsageError("pipe the secret in with --secret-stdin: it must not appear on the command line");
      const [target, login] = ctx.positionals;
      const secret = await readStdin();
      const a = await ctx.api<AccountView>("PUT", `/api/v1/targets/${enc(target ?? "")}/accounts/${enc(login ?? "")}/secret`, {
        secret, ...(ctx.values.reason !== undefined ? { reason: ctx.values.reason } : {}),
      });
      ctx.show(a, () => `stored a new secret for ${a.login} on ${a.targetName}`);
    },
  },
  {
    name: "policies",
    usage: "jitgate policies",
    summary: "list the policies in force",
    args: [0, 0],
    async run(ctx) {
      const rows = await ctx.api<{ name: string; version: number; source: string; spec: { maxDurationMs: number; approvals: { count: number }; logins: string[]; targets: string[] | null } }[]>("GET", "/api/v1/policies");
      ctx.show(rows, () => table(rows, [["name", (p) => p.name], ["version", (p) => String(p.version)], ["targets", (p) => p.spec.targets?.join(",") ?? "(labels)"],
        ["logins", (p) => p.spec.logins.join(",")], ["max", (p) => `${Math.round(p.spec.maxDurationMs / 60000)}m`], ["approvals", (p) => String(p.spec.approvals.count)], ["source", (p) => p.source]]));
    },
  },
  {
    name: "policies history",
    usage: "jitgate policies history NAME",
    summary: "every version of a policy: when, from which file, by whom",
    args: [1, 1],
    async run(ctx) {
      const rows = await ctx.api<{ version: number; spec: unknown; source: string; appliedBy: string; appliedAt: string }[]>(
        "GET", `/api/v1/policies/${enc(ctx.positionals[0] ?? "")}/versions`);
      ctx.show(rows, () => table(rows, [["version", (r) => String(r.version)], ["applied", (r) => when(r.appliedAt)], ["by", (r) => r.appliedBy],
        ["source", (r) => r.source], ["change", (r) => (r.spec === null ? "removed" : "applied")]]));
    },
  },
  {
    name: "policies apply",
    usage: "jitgate policies apply FILE.yaml [--prune]",
    summary: "apply a policy file; --prune removes policies the file no longer names",
    args: [1, 1],
    options: { prune: { type: "boolean" } },
    async run(ctx) {
      const file = ctx.positionals[0] as string;
      let yaml: string;
      try {
        yaml = readFileSync(file, "utf8");
      } catch {
        throw new UsageError(`cannot read ${file}`);
      }
      const r = await ctx.api<{ applied: { name: string; version: number; changed: boolean }[]; deleted: { name: string; version: number }[] }>(
        "POST", "/api/v1/policies/apply", { file, yaml, prune: ctx.values.prune === true });
      ctx.show(r, () => [
        ...r.applied.map((p) => `${p.changed ? "applied" : "unchanged"} ${p.name} (version ${p.version})`),
        ...r.deleted.map((p) => `removed ${p.name} (version ${p.version})`),
      ].join("\n") || "nothing to apply");
    },
  },
];
