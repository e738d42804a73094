import type { AuditRecord } from "../../../policies/index.js";
import type { Command } from "../command.js";
import { table } from "../output.js";

interface VerifyReply { ok: boolean; count: number; headHash: string; problems: { seq: number; problem: string; message: string }[] }

const summary = (e: AuditRecord) => {
  const d = e.data as Record<string, unknown>;
  return Object.entries(d).filter(([k]) => k !== "userName").map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
};

export const auditCommands: Command[] = [
  {
    name: "audit",
    usage: "jitgate audit [--since 1h|TIME] [--until TIME] [--user NAME] [--target NAME] [--type TYPE|PREFIX.] [--limit N]",
    summary: "show audit events",
    args: [0, 0],
    options: { since: { type: "string" }, until: { type: "string" }, user: { type: "string" }, target: { type: "string" }, type: { type: "string" }, limit: { type: "string" } },
    async run(ctx) {
      const q = new URLSearchParams();
      for (const k of ["since", "until", "user", "target", "type", "limit"]) {
        const v = ctx.values[k];
        if (typeof v === "string") q.set(k, v);
      }
      const rows = await ctx.api<AuditRecord[]>("GET", `/api/v1/audit?${q}`);
      ctx.show(rows, () => table(rows, [["seq", (e) => String(e.seq)], ["at", (e) => String(e.at).slice(0, 23)], ["type", (e) => e.type],
        ["actor", (e) => e.actor], ["target", (e) => e.target ?? "-"], ["details", summary]]));
    },
  },
  {
    name: "audit verify",
    usage: "jitgate audit verify",
    summary: "check the audit chain; exit 1 when any row was edited, inserted, deleted or reordered",
    args: [0, 0],
    async run(ctx) {
      const r = await ctx.api<VerifyReply>("GET", "/api/v1/audit/verify");
      ctx.show(r, () => (r.ok ? `audit chain intact: ${r.count} events, head ${r.headHash}` :
        `audit chain BROKEN (${r.problems.length} problem(s) in ${r.count} events):\n${r.problems.map((p) => `  seq ${p.seq}: ${p.problem}: ${p.message}`).join("\n")}`));
      return r.ok ? 0 : 1;
    },
  },
];
