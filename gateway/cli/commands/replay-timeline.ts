// SQL and HTTP sessions (and SSH sessions without a terminal) replay as a timeline: one line
// per statement, request, command or file operation.
import type { EventDto } from "../../api/sessions-dto.js";

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();
const ms = (n: number) => `${n.toFixed(1)} ms`;

export function timelineLine(e: EventDto, startedAt: number): string | null {
  const at = `+${((e.ts - startedAt) / 1000).toFixed(3)}s`;
  switch (e.kind) {
    case "sql": {
      const s = e.sql;
      const outcome = s.sqlstate ? `ERROR ${s.sqlstate}${s.stage ? ` at ${s.stage}` : ""}: ${s.error ?? ""}` : `${s.tag ?? "done"}`;
      const params = s.params ? ` [${s.params.map((p) => (p === null ? "NULL" : JSON.stringify(p))).join(", ")}]` : "";
      return `${at}  ${oneLine(s.text)}${params}  → ${outcome} (${ms(s.durationMs)})`;
    }
    case "http": {
      const h = e.http;
      return `${at}  ${h.method} ${h.path}${h.query ? `?${h.query}` : ""} → ${h.status}${h.websocket ? " websocket" : ""} (${h.responseBytes} B, ${ms(h.durationMs)})`;
    }
    case "channel_open":
      return `${at}  channel ${e.channel}: ${e.open.type}${e.open.command ? ` ${e.open.command}` : ""}${e.open.pty ? ` (pty ${e.open.pty.cols}x${e.open.pty.rows})` : ""}`;
    case "channel_close":
      return `${at}  channel ${e.channel} closed: ${e.exit.signal ? `signal ${e.exit.signal}` : `exit ${e.exit.code ?? "?"}`}`;
    case "sftp": {
      const f = e.sftp;
      return `${at}  sftp ${f.op} ${f.path}${f.path2 ? ` → ${f.path2}` : ""}${f.bytes !== undefined ? ` (${f.bytes} B)` : ""}: ${f.status}`;
    }
    case "start":
      return `${at}  ${e.start.userName} connected from ${e.start.clientAddress} as ${e.start.login}@${e.start.targetName}`;
    case "end":
      return `${at}  ended: ${e.reason}`;
    default:
      return null;
  }
}
