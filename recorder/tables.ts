// The rows the recorder writes, as TabSeparated lines in a fixed column order. The same
// line is what goes to ClickHouse and what the hash chain covers, so the verifier rebuilds
// it from the stored values with these functions and compares.
import type { TableName } from "./ports.js";
import { base64Length, writeBase64, writeNumber } from "./row-bytes.js";

type Column = readonly [name: string, type: string];

/** Insert columns per table, in line order; the types are the input's, for a file() read. */
export const COLUMNS: Record<TableName, readonly Column[]> = {
  events: [["session_id", "String"], ["seq", "UInt64"], ["ts_ms", "Int64"], ["kind", "String"], ["channel", "UInt32"], ["offset", "UInt64"],
    ["b64", "String"], ["meta", "String"], ["chunk", "UInt32"], ["v", "UInt8"], ["start_ms", "Int64"]],
  sessions: [["session_id", "String"], ["version", "UInt8"], ["start_ms", "Int64"], ["end_ms", "Int64"], ["protocol", "String"], ["grant_id", "String"],
    ["user_id", "String"], ["user_name", "String"], ["target_id", "String"], ["target_name", "String"], ["login", "String"], ["client_address", "String"],
    ["node", "String"], ["redact_parameters", "UInt8"], ["end_reason", "String"], ["events", "UInt64"], ["chunks", "UInt32"], ["bytes_out", "UInt64"],
    ["bytes_in", "UInt64"], ["digest", "String"], ["key_id", "String"], ["signature", "String"], ["v", "UInt8"]],
  chunks: [["session_id", "String"], ["chunk", "UInt32"], ["first_seq", "UInt64"], ["last_seq", "UInt64"], ["events", "UInt32"], ["prev", "String"],
    ["hash", "String"], ["ts_ms", "Int64"], ["start_ms", "Int64"]],
  keyframes: [["session_id", "String"], ["channel", "UInt32"], ["offset", "UInt64"], ["ts_ms", "Int64"], ["cols", "UInt16"], ["rows", "UInt16"],
    ["screen", "String"], ["start_ms", "Int64"]],
  text: [["ts_ms", "Int64"], ["session_id", "String"], ["user_name", "String"], ["target_name", "String"], ["protocol", "String"], ["source", "String"],
    ["channel", "UInt32"], ["offset", "UInt64"], ["seq", "UInt64"], ["line", "String"], ["start_ms", "Int64"]],
};

const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };
// ES2024 string methods (Node 20 has them; the compiler's lib predates them).
type WellFormedString = string & { isWellFormed(): boolean; toWellFormed(): string };

/** A string as one TabSeparated field. */
export function field(s: string): string {
  return SPECIAL.test(s) ? s.replace(SPECIALS, (c) => ESCAPES[c] ?? c) : s;
}

/**
 * The string as it will read back: a lone surrogate cannot be stored as UTF-8, so it becomes
 * U+FFFD before anything is hashed.
 */
export function wellFormed(s: string): string {
  const w = s as WellFormedString;
  return w.isWellFormed() ? s : w.toWellFormed();
}

/** The kinds of event rows. `start` and `end` are in the chain too, so who and when are covered. */
export type EventKind = "start" | "channel_open" | "output" | "input" | "resize" | "channel_close" | "sftp" | "sql" | "http" | "end";

export const EVENT_KINDS: readonly EventKind[] = ["start", "channel_open", "output", "input", "resize", "channel_close", "sftp", "sql", "http", "end"];

export interface EventRow {
  sessionId: string;
  seq: number;
  ts: number;
  kind: EventKind;
  channel: number;
  offset: number;
  /** The bytes, base64 (output and input), else "". */
  b64: string;
  /** JSON of the structured event, else "". */
  meta: string;
  chunk: number;
  v: number;
  startedAt: number;
}

/** JSON as one field: JSON has no raw tab or line break, so only its backslashes need doubling. */
function jsonField(json: string): string {
  return json.indexOf("\\") === -1 ? json : json.replaceAll("\\", "\\\\");
}

/** `sid` is field(sessionId), passed in so a recording escapes its id once. `meta` is JSON or "". */
export function eventLine(sid: string, r: Omit<EventRow, "sessionId">): string {
  return `${eventHead(sid, r)}${r.b64}${eventTail(r)}`;
}

/** The event line up to its base64 field (ending in its tab): eventLine is head, b64, tail. */
export function eventHead(sid: string, r: Pick<EventRow, "seq" | "ts" | "kind" | "channel" | "offset">): string {
  return `${sid}\t${r.seq}\t${r.ts}\t${r.kind}\t${r.channel}\t${r.offset}\t`;
}

/** The event line after its base64 field (from its tab on). */
export function eventTail(r: Pick<EventRow, "meta" | "chunk" | "v" | "startedAt">): string {
  return `\t${jsonField(r.meta)}\t${r.chunk}\t${r.v}\t${r.startedAt}`;
}

/** What of an event row is the same for a whole session, as bytes: the escaped id and the start. */
export interface EventRowFixed {
  sid: Buffer;
  startedAt: Buffer;
}

export function eventRowFixed(sid: string, startedAt: number): EventRowFixed {
  return { sid: Buffer.from(sid), startedAt: Buffer.from(String(startedAt)) };
}

const KIND_BYTES = new Map(EVENT_KINDS.map((k) => [k, Buffer.from(k)]));
/** Room for the numbers, tabs and kind of a row: seven numbers of up to 20 characters, ten tabs, a kind. */
const ROW_FIXED_ROOM = 7 * 20 + 10 + 16 + 1;

/** The most bytes writeEventRow writes for these contents. */
export function eventRowRoom(fixed: EventRowFixed, data: Uint8Array | null, meta: string): number {
  // jsonField at most doubles the characters, and UTF-8 takes at most 3 bytes for each.
  return fixed.sid.length + fixed.startedAt.length + ROW_FIXED_ROOM + (data ? base64Length(data.length) : 0) + meta.length * 6;
}

/**
 * Writes the event's line and "\n" from `at` (byte for byte eventLine's, with `data` as its
 * base64); returns the end. `meta` is well-formed JSON or "". The caller made room (eventRowRoom).
 */
export function writeEventRow(buf: Buffer, at: number, fixed: EventRowFixed, seq: number, ts: number, kind: EventKind, channel: number, offset: number,
  data: Uint8Array | null, meta: string, chunk: number, v: number): number {
  // set(), not copy(): for a few dozen bytes it is the cheaper call.
  buf.set(fixed.sid, at);
  at += fixed.sid.length;
  buf[at++] = 9;
  at = writeNumber(buf, at, seq);
  buf[at++] = 9;
  at = writeNumber(buf, at, ts);
  buf[at++] = 9;
  const kindBytes = KIND_BYTES.get(kind) as Buffer;
  buf.set(kindBytes, at);
  at += kindBytes.length;
  buf[at++] = 9;
  at = writeNumber(buf, at, channel);
  buf[at++] = 9;
  at = writeNumber(buf, at, offset);
  buf[at++] = 9;
  if (data) at = writeBase64(buf, at, data);
  buf[at++] = 9;
  if (meta !== "") at += buf.write(jsonField(meta), at, "utf8");
  buf[at++] = 9;
  at = writeNumber(buf, at, chunk);
  buf[at++] = 9;
  at = writeNumber(buf, at, v);
  buf[at++] = 9;
  buf.set(fixed.startedAt, at);
  at += fixed.startedAt.length;
  buf[at++] = 10;
  return at;
}

export interface SessionRow {
  sessionId: string;
  /** 0: the start row; 1: the end row, which replaces it. */
  version: 0 | 1;
  startedAt: number;
  /** 0 while live. */
  endedAt: number;
  protocol: string;
  grantId: string;
  userId: string;
  userName: string;
  targetId: string;
  targetName: string;
  login: string;
  clientAddress: string;
  node: string;
  redactParameters: boolean;
  endReason: string;
  events: number;
  chunks: number;
  bytesOut: number;
  bytesIn: number;
  digest: string;
  keyId: string;
  signature: string;
  v: number;
}

export function sessionLine(r: SessionRow): string {
  const f = field;
  return [f(r.sessionId), r.version, r.startedAt, r.endedAt, f(r.protocol), f(r.grantId), f(r.userId), f(r.userName), f(r.targetId), f(r.targetName),
    f(r.login), f(r.clientAddress), f(r.node), r.redactParameters ? 1 : 0, f(r.endReason), r.events, r.chunks, r.bytesOut, r.bytesIn, r.digest,
    f(r.keyId), r.signature, r.v].join("\t");
}

export interface ChunkRow {
  sessionId: string;
  chunk: number;
  firstSeq: number;
  lastSeq: number;
  events: number;
  /** Hex SHA-256 digests. */
  prev: string;
  hash: string;
  ts: number;
  startedAt: number;
}

export function chunkLine(sid: string, r: Omit<ChunkRow, "sessionId">): string {
  return `${sid}\t${r.chunk}\t${r.firstSeq}\t${r.lastSeq}\t${r.events}\t${r.prev}\t${r.hash}\t${r.ts}\t${r.startedAt}`;
}

export function keyframeLine(sid: string, channel: number, k: { ts: number; offset: number; cols: number; rows: number; screen: string }, startedAt: number): string {
  return `${sid}\t${channel}\t${k.offset}\t${k.ts}\t${k.cols}\t${k.rows}\t${field(wellFormed(k.screen))}\t${startedAt}`;
}

export type TextSource = "typed" | "shown" | "sql" | "http" | "exec" | "sftp";

export const TEXT_SOURCES: readonly TextSource[] = ["typed", "shown", "sql", "http", "exec", "sftp"];

export interface TextRow {
  ts: number;
  source: TextSource;
  channel: number;
  offset: number;
  seq: number;
  line: string;
}

/** `who` is the escaped session id, user, target and protocol fields, joined by tabs. */
export function textLine(sidAndWho: string, r: TextRow, startedAt: number): string {
  return `${r.ts}\t${sidAndWho}\t${r.source}\t${r.channel}\t${r.offset}\t${r.seq}\t${field(wellFormed(r.line))}\t${startedAt}`;
}
