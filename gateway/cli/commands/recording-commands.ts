// Recorded sessions: list and search them, kill a live one, replay, export and verify.
import { writeFileSync } from "node:fs";
import type { EventPage, SearchHit, SessionSummary, VerifyReport } from "../../api/sessions-dto.js";
import { enc, type Command, type CommandContext } from "../command.js";
import { UsageError } from "../errors.js";
import { table, when } from "../output.js";
import { timelineLine } from "./replay-timeline.js";
import { parseDuration } from "../../../policies/index.js";

const duration = (s: SessionSummary) => {
  const end = s.endedAt ? Date.parse(s.endedAt) : Date.now();
  const secs = Math.round((end - Date.parse(s.startedAt)) / 1000);
  return secs < 60 ? `${secs}s` : secs < 3600 ? `${Math.floor(secs / 60)}m${secs % 60}s` : `${(secs / 3600).toFixed(1)}h`;
};

async function allEvents(ctx: CommandContext, id: string): Promise<EventPage["events"]> {
  const out: EventPage["events"] = [];
  let after = -1;
  for (;;) {
    const page = await ctx.api<EventPage>("GET", `/api/v1/sessions/${enc(id)}/events?afterSeq=${after}&limit=5000`);
    out.push(...page.events);
    if (page.next === null) return out;
    after = page.next;
  }
}

function positiveNumber(v: unknown, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} needs a number above 0, not ${JSON.stringify(v)}`);
  return n;
}

export const recordingCommands: Command[] = [
  {
    name: "sessions",
    usage: "jitgate sessions [--live] [--search TEXT] [--user NAME] [--target NAME] [--since 1h|TIME] [--limit N]",
    summary: "list recorded sessions (yours, or everyone's for auditors and admins), or search what was typed, shown or queried",
    args: [0, 0],
    options: { live: { type: "boolean" }, search: { type: "string" }, user: { type: "string" }, target: { type: "string" }, since: { type: "string" }, limit: { type: "string" } },
    async run(ctx) {
      const q = new URLSearchParams();
      for (const k of ["user", "target", "since", "limit"]) if (typeof ctx.values[k] === "string") q.set(k, ctx.values[k] as string);
      if (typeof ctx.values.search === "string") {
        q.set("text", ctx.values.search);
        const hits = await ctx.api<SearchHit[]>("GET", `/api/v1/sessions/search?${q}`);
        ctx.show(hits, () => table(hits, [["session", (h) => h.sessionId], ["at", (h) => h.at.slice(0, 23)], ["user", (h) => h.userName],
          ["target", (h) => h.targetName], ["where", (h) => h.source], ["text", (h) => h.line.slice(0, 120)]]));
        return;
      }
      if (ctx.values.live) q.set("live", "true");
      const rows = await ctx.api<SessionSummary[]>("GET", `/api/v1/sessions?${q}`);
      ctx.show(rows, () => table(rows, [["id", (s) => s.id], ["user", (s) => s.userName], ["target", (s) => `${s.login}@${s.targetName}`],
        ["protocol", (s) => s.protocol], ["started", (s) => when(s.startedAt)], ["duration", duration], ["state", (s) => (s.live ? "live" : s.endReason ?? "ended")]]));
    },
  },
  {
    name: "sessions kill",
    usage: "jitgate sessions kill SESSION_ID [--reason TEXT]",
    summary: "end a live session now (auditors and admins)",
    args: [1, 1],
    options: { reason: { type: "string" } },
    async run(ctx) {
      const id = ctx.positionals[0] ?? "";
      const r = await ctx.api<SessionSummary>("POST", `/api/v1/sessions/${enc(id)}/kill`, { reason: ctx.values.reason ?? null });
      ctx.show(r, () => `session ${r.id} (${r.userName}, ${r.login}@${r.targetName}) killed`);
    },
  },
  {
    name: "replay",
    usage: "jitgate replay SESSION_ID [--speed N] [--idle-cap 2s] [--channel N] [--export cast] [--output FILE] [--verify]",
    summary: "play a recorded session with its timing, export it as asciicast v2, or verify its hash chain",
    args: [1, 1],
    options: { speed: { type: "string" }, "idle-cap": { type: "string" }, channel: { type: "string" }, export: { type: "string" }, output: { type: "string" }, verify: { type: "boolean" } },
    async run(ctx) {
      const id = ctx.positionals[0] ?? "";
      if (ctx.values.verify) {
        const r = await ctx.api<VerifyReport>("GET", `/api/v1/sessions/${enc(id)}/verify`);
        ctx.show(r, () => (r.ok
          ? `recording intact: ${r.events} events in ${r.chunks} chunks${r.live ? " (session still live)" : ""}; signature ${r.signature}${r.keyId ? ` (key ${r.keyId})` : ""}`
          : `recording BROKEN: ${r.problem ? `${r.problem.kind}${r.problem.chunk !== null ? ` at chunk ${r.problem.chunk}` : ""}${r.problem.seq !== null ? ` (event ${r.problem.seq})` : ""}: ${r.problem.message}` : "bad signature"}; signature ${r.signature}`));
        return r.ok ? 0 : 1;
      }
      const format = ctx.values.export;
      if (format !== undefined && format !== "cast") throw new UsageError(`--export knows only "cast" (asciicast v2), not ${JSON.stringify(format)}`);
      const speed = positiveNumber(ctx.values.speed, "--speed", 1);
      const idleCapMs = ctx.values["idle-cap"] === undefined ? 2000 : parseDuration(String(ctx.values["idle-cap"]));
      const session = await ctx.api<SessionSummary>("GET", `/api/v1/sessions/${enc(id)}`);
      if (session.protocol === "ssh") {
        // The terminal model loads only to replay a terminal.
        const { exportCast, playTerminal, terminalChannels } = await import("./replay-terminal.js");
        const channels = await terminalChannels(ctx, id);
        const wanted = ctx.values.channel === undefined ? channels[0] : Number(ctx.values.channel);
        if (wanted === undefined || !channels.includes(wanted)) {
          throw new UsageError(channels.length === 0 ? `session ${id} has no terminal to replay (no pty was opened); see its events with --json or: jitgate replay ${id} --export cast` : `session ${id} has terminals on channel(s) ${channels.join(", ")}; choose one with --channel`);
        }
        if (format === "cast") {
          const cast = await exportCast(ctx, session, wanted);
          if (typeof ctx.values.output === "string") writeFileSync(ctx.values.output, cast);
          else ctx.out(cast.trimEnd());
          return;
        }
        await playTerminal(ctx, id, wanted, { speed, idleCapMs });
        return;
      }
      if (format === "cast") throw new UsageError(`asciicast is for terminal sessions; session ${id} is ${session.protocol}: replay it as a timeline without --export`);
      const events = await allEvents(ctx, id);
      ctx.show(events, () => events.map((e) => timelineLine(e, Date.parse(session.startedAt))).filter((l) => l !== null).join("\n") || "(no events)");
    },
  },
];
