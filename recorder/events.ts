// A stored event as readers see it: one discriminated union over every kind, with the
// bytes decoded. The live stream uses the same shape, so a viewer handles one format.
import type { ChannelOpen, HttpExchange, SessionStart, SftpOperation, SqlStatement } from "./model.js";
import type { EventKind } from "./tables.js";

interface Base {
  seq: number;
  /** Epoch milliseconds. */
  ts: number;
}

/**
 * `channel` is the recording's channel number: the order the channel opened in, from 0
 * (an SSH channel id can be reused after close; these never are). SQL and HTTP use 0.
 */
export type RecordedEvent =
  | (Base & { kind: "start"; channel: 0; start: SessionStart })
  | (Base & { kind: "channel_open"; channel: number; open: Omit<ChannelOpen, "channel"> })
  | (Base & { kind: "output" | "input"; channel: number; offset: number; data: Uint8Array })
  | (Base & { kind: "resize"; channel: number; cols: number; rows: number })
  | (Base & { kind: "channel_close"; channel: number; exit: { code: number | null; signal: string | null } })
  | (Base & { kind: "sftp"; channel: number; sftp: Omit<SftpOperation, "channel"> })
  | (Base & { kind: "sql"; channel: 0; sql: SqlStatement })
  | (Base & { kind: "http"; channel: 0; http: HttpExchange })
  | (Base & { kind: "end"; channel: 0; reason: string });

export interface StoredEvent {
  seq: number;
  ts: number;
  kind: EventKind;
  channel: number;
  offset: number;
  data: Uint8Array;
  meta: string;
}

/** Decodes a stored row; null for a kind this version does not know (a newer writer's). */
export function decodeEvent(row: StoredEvent): RecordedEvent | null {
  const { seq, ts, channel } = row;
  const meta = () => JSON.parse(row.meta) as Record<string, unknown>;
  switch (row.kind) {
    case "start":
      return { seq, ts, kind: "start", channel: 0, start: meta() as unknown as SessionStart };
    case "channel_open":
      return { seq, ts, kind: "channel_open", channel, open: meta() as unknown as Omit<ChannelOpen, "channel"> };
    case "output":
    case "input":
      return { seq, ts, kind: row.kind, channel, offset: row.offset, data: row.data };
    case "resize": {
      const m = meta() as { cols: number; rows: number };
      return { seq, ts, kind: "resize", channel, cols: m.cols, rows: m.rows };
    }
    case "channel_close":
      return { seq, ts, kind: "channel_close", channel, exit: meta() as { code: number | null; signal: string | null } };
    case "sftp":
      return { seq, ts, kind: "sftp", channel, sftp: meta() as unknown as Omit<SftpOperation, "channel"> };
    case "sql":
      return { seq, ts, kind: "sql", channel: 0, sql: meta() as unknown as SqlStatement };
    case "http":
      return { seq, ts, kind: "http", channel: 0, http: meta() as unknown as HttpExchange };
    case "end":
      return { seq, ts, kind: "end", channel: 0, reason: String(meta().reason ?? "") };
    default:
      return null;
  }
}
