// A session's event rows read back from ClickHouse and rebuilt into the bytes its hash chain
// covered, for the verifier and for sealing sessions an earlier run left open.
import { eventRowBytes, type EventKind } from "./tables.js";

/** The select list that storedRowBytes() reads. */
export const STORED_EVENT_COLUMNS =
  "seq, toUnixTimestamp64Milli(ts) AS t, kind, channel, offset, base64Encode(data) AS b64, meta, chunk, v, toUnixTimestamp64Milli(started_at) AS s";

export const num = (v: unknown): number => (typeof v === "number" ? v : Number(v));

/** A row of STORED_EVENT_COLUMNS (JSONEachRow) as the bytes its chain hashed. */
export function storedRowBytes(sessionId: string, r: Record<string, unknown>): Buffer {
  return eventRowBytes(sessionId, {
    seq: num(r.seq), ts: num(r.t), kind: String(r.kind) as EventKind, channel: num(r.channel), offset: num(r.offset),
    data: Buffer.from(String(r.b64), "base64"), meta: String(r.meta), chunk: num(r.chunk), v: num(r.v), startedAt: num(r.s),
  });
}
