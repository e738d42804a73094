import { enc, type Command } from "../command.js";
import { UsageError } from "../errors.js";
import { table, when } from "../output.js";

interface Rotation { actor: string; reason: string; trigger: string; outcome: string; error: string | null; version: number | null; startedAt: string; finishedAt: string }
interface Version { version: number; state: string; createdAt: string; createdBy: string; reason: string }

function accountArg(value: string | undefined): { target: string; login: string } {
  const m = /^([^/]+)\/([^/]+)$/.exec(value ?? "");
  if (!m) throw new UsageError("name the account as TARGET/LOGIN, for example billing-db/app");
  return { target: m[1] as string, login: m[2] as string };
}

export const vaultCommands: Command[] = [
  {
    name: "vault rotate",
    usage: "jitgate vault rotate TARGET/LOGIN [--reason TEXT]",
    summary: "set a new password on the target, verify it, and keep it in the vault",
    args: [1, 1],
    options: { reason: { type: "string" } },
    async run(ctx) {
      const a = accountArg(ctx.positionals[0]);
      const r = await ctx.api<Rotation>("POST", "/api/v1/vault/rotate", { ...a, ...(ctx.values.reason !== undefined ? { reason: ctx.values.reason } : {}) });
      ctx.show(r, () => `rotated ${a.login}@${a.target}: now version ${r.version} (${Date.parse(r.finishedAt) - Date.parse(r.startedAt)} ms)`);
    },
  },
  {
    name: "vault history",
    usage: "jitgate vault history TARGET/LOGIN",
    summary: "who rotated or set an account's secret, when, why, and the outcome (never values)",
    args: [1, 1],
    async run(ctx) {
      const a = accountArg(ctx.positionals[0]);
      const r = await ctx.api<{ rotations: Rotation[]; versions: Version[] }>("GET", `/api/v1/vault/history?account=${enc(`${a.target}/${a.login}`)}`);
      ctx.show(r, () => [
        "rotations:",
        table(r.rotations, [["started", (x) => when(x.startedAt)], ["by", (x) => x.actor], ["trigger", (x) => x.trigger], ["outcome", (x) => x.outcome],
          ["version", (x) => String(x.version ?? "-")], ["reason", (x) => x.reason], ["error", (x) => x.error ?? "-"]]),
        "",
        "versions:",
        table(r.versions, [["version", (v) => String(v.version)], ["state", (v) => v.state], ["created", (v) => when(v.createdAt)], ["by", (v) => v.createdBy], ["reason", (v) => v.reason]]),
      ].join("\n"));
    },
  },
];
