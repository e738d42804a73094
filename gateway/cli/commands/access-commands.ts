// Requests, approvals and grants: the daily JIT loop.
import type { AccessRequest, Grant } from "../../../policies/index.js";
import { enc, type Command } from "../command.js";
import { UsageError } from "../errors.js";
import { table, when } from "../output.js";

const minutes = (ms: number) => (ms % 3600_000 === 0 ? `${ms / 3600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`);

function requestLine(r: AccessRequest): string {
  const votes = `${r.approvals.filter((a) => a.decision === "approve").length}/${r.approvalsRequired}`;
  const head = `request ${r.id} ${r.state}: ${r.login}@${r.target} for ${minutes(r.durationMs)} (approvals ${votes}, policy ${r.policy})`;
  if (r.state === "approved" && r.grantId) return `${head}\ngrant ${r.grantId}`;
  if (r.state === "pending") return `${head}\nexpires ${when(r.expiresAt)} unless approved`;
  return r.decisionReason ? `${head}\nreason: ${r.decisionReason}` : head;
}

const requestTable = (rows: AccessRequest[]) =>
  table(rows, [
    ["id", (r) => r.id], ["state", (r) => r.state], ["user", (r) => r.user], ["access", (r) => `${r.login}@${r.target}`],
    ["for", (r) => minutes(r.durationMs)], ["approvals", (r) => `${r.approvals.filter((a) => a.decision === "approve").length}/${r.approvalsRequired}`],
    ["created", (r) => when(r.createdAt)], ["reason", (r) => r.reason || "-"],
  ]);

const grantTable = (rows: Grant[]) =>
  table(rows, [
    ["id", (g) => g.id], ["state", (g) => (g.state === "ended" ? `ended (${g.endReason})` : g.state)], ["user", (g) => g.user],
    ["access", (g) => `${g.login}@${g.target}`], ["from", (g) => when(g.notBefore)], ["until", (g) => when(g.notAfter)],
  ]);

export const accessCommands: Command[] = [
  {
    name: "request",
    usage: "jitgate request TARGET --login LOGIN --for DURATION [--reason TEXT] [--start TIME]",
    summary: "ask for time-boxed access; prints the request id",
    args: [1, 1],
    options: { login: { type: "string" }, for: { type: "string" }, reason: { type: "string" }, start: { type: "string" } },
    async run(ctx) {
      if (!ctx.values.login || !ctx.values.for) throw new UsageError("request needs --login LOGIN and --for DURATION (like 30m)");
      const r = await ctx.api<AccessRequest>("POST", "/api/v1/requests", {
        target: ctx.positionals[0], login: ctx.values.login, duration: ctx.values.for,
        ...(ctx.values.reason !== undefined ? { reason: ctx.values.reason } : {}),
        ...(ctx.values.start !== undefined ? { startAt: ctx.values.start } : {}),
      });
      ctx.show(r, () => requestLine(r));
    },
  },
  {
    name: "requests",
    usage: "jitgate requests [--pending] [--mine]",
    summary: "list requests",
    args: [0, 0],
    options: { pending: { type: "boolean" }, mine: { type: "boolean" } },
    async run(ctx) {
      const q = new URLSearchParams();
      if (ctx.values.pending) q.set("state", "pending");
      if (ctx.values.mine) q.set("mine", "true");
      const rows = await ctx.api<AccessRequest[]>("GET", `/api/v1/requests?${q}`);
      ctx.show(rows, () => requestTable(rows));
    },
  },
  ...(["approve", "deny", "cancel"] as const).map((verb): Command => ({
    name: verb,
    usage: verb === "deny" ? "jitgate deny ID --reason TEXT" : verb === "approve" ? "jitgate approve ID [--reason TEXT]" : "jitgate cancel ID",
    summary: verb === "deny" ? "deny a pending request" : verb === "approve" ? "approve a pending request" : "withdraw your pending request",
    args: [1, 1],
    options: verb === "cancel" ? {} : { reason: { type: "string" } },
    async run(ctx) {
      if (verb === "deny" && !ctx.values.reason) throw new UsageError("deny needs --reason TEXT");
      const body = verb === "cancel" ? undefined : ctx.values.reason !== undefined ? { reason: ctx.values.reason } : {};
      const r = await ctx.api<AccessRequest>("POST", `/api/v1/requests/${enc(ctx.positionals[0] ?? "")}/${verb}`, body);
      ctx.show(r, () => requestLine(r));
    },
  })),
  {
    name: "grants",
    usage: "jitgate grants [--all] [--user NAME]",
    summary: "list live and scheduled grants (--all includes ended ones)",
    args: [0, 0],
    options: { all: { type: "boolean" }, user: { type: "string" } },
    async run(ctx) {
      const q = new URLSearchParams();
      if (!ctx.values.all) q.set("active", "true");
      if (ctx.values.user) q.set("user", ctx.values.user as string);
      const rows = await ctx.api<Grant[]>("GET", `/api/v1/grants?${q}`);
      ctx.show(rows, () => grantTable(rows));
    },
  },
  {
    name: "grant",
    usage: "jitgate grant ID",
    summary: "show one grant",
    args: [1, 1],
    async run(ctx) {
      const g = await ctx.api<Grant>("GET", `/api/v1/grants/${enc(ctx.positionals[0] ?? "")}`);
      ctx.show(g, () => grantTable([g]));
    },
  },
  {
    name: "revoke",
    usage: "jitgate revoke GRANT_ID [--reason TEXT]",
    summary: "end a grant now; its sessions are cut",
    args: [1, 1],
    options: { reason: { type: "string" } },
    async run(ctx) {
      const g = await ctx.api<Grant>("POST", `/api/v1/grants/${enc(ctx.positionals[0] ?? "")}/revoke`, ctx.values.reason !== undefined ? { reason: ctx.values.reason } : {});
      ctx.show(g, () => `grant ${g.id} revoked`);
    },
  },
  {
    name: "extend",
    usage: "jitgate extend GRANT_ID --for DURATION [--reason TEXT]",
    summary: "ask for more time on a live grant (approved like any request)",
    args: [1, 1],
    options: { for: { type: "string" }, reason: { type: "string" } },
    async run(ctx) {
      if (!ctx.values.for) throw new UsageError("extend needs --for DURATION (like 30m)");
      const r = await ctx.api<AccessRequest>("POST", `/api/v1/grants/${enc(ctx.positionals[0] ?? "")}/extend`, {
        duration: ctx.values.for, ...(ctx.values.reason !== undefined ? { reason: ctx.values.reason } : {}),
      });
      ctx.show(r, () => requestLine(r));
    },
  },
];
