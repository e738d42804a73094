// The rows the recorder writes, in a fixed column order: event rows in RowBinary (their
// bytes as they came, nothing to encode), the other tables' rows as TabSeparated lines. An
// event row's bytes are what goes to ClickHouse and what the hash chain covers, so the
// verifier rebuilds them from the stored values with these functions and compares.
import type { BatchPart, RowFormat, TableName } from "./ports.js";
import { MAX_LENGTH_BYTES, readLength, write64, writeBytes, writeString } from "./row-bytes.js";

type Column = readonly [name: string, type: string];

/** How each table's rows are written now. */
export const FORMATS: Record<TableName, RowFormat> = { events: "RowBinary", sessions: "TabSeparated", chunks: "TabSeparated", keyframes: "TabSeparated", text: "TabSeparated" };

/** Insert columns per table, in row order; the types are the input's, for a file() read. */
export const COLUMNS: Record<TableName, readonly Column[]> = {
  events: [["session_id", "String"], ["seq", "UInt64"], ["ts_ms", "Int64"], ["kind", "String"], ["channel", "UInt32"], ["offset", "UInt64"],
    ["data", "String"], ["meta", "String"], ["chunk", "UInt32"], ["v", "UInt8"], ["start_ms", "Int64"]],
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

/**
 * Event rows of recording version 1, TabSeparated with the bytes in base64: what an older
 * gateway left in the spool is sent so.
 */
const EVENT_COLUMNS_V1: readonly Column[] = COLUMNS.events.map(([name, type]) => (name === "data" ? ["b64", type] : [name, type]));

/** The columns a part's rows hold. */
export function columnsOf(part: Pick<BatchPart, "table" | "format">): readonly Column[] {
  return part.table === "events" && part.format === "TabSeparated" ? EVENT_COLUMNS_V1 : COLUMNS[part.table];
}

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

/** An event row of recording version 1 as the verifier rebuilds it: a TabSeparated line. */
export interface EventRowV1 {
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

/** A version 1 event row's line (without its "\n"); `sid` is field(sessionId). */
export function eventLineV1(sid: string, r: EventRowV1): string {
  return `${sid}\t${r.seq}\t${r.ts}\t${r.kind}\t${r.channel}\t${r.offset}\t${r.b64}\t${jsonField(r.meta)}\t${r.chunk}\t${r.v}\t${r.startedAt}`;
}

/** What of an event row is the same for a whole session, as bytes: the id and the start. */
export interface EventRowFixed {
  /** The session id as a RowBinary string. */
  sid: Buffer;
  startedAt: number;
}

export function eventRowFixed(sessionId: string, startedAt: number): EventRowFixed {
  const id = wellFormed(sessionId);
  const sid = Buffer.alloc(MAX_LENGTH_BYTES + Buffer.byteLength(id));
  return { sid: sid.subarray(0, writeString(sid, 0, id)), startedAt };
}

const KIND_BYTES = new Map(EVENT_KINDS.map((k) => {
  const b = Buffer.alloc(1 + k.length);
  writeString(b, 0, k);
  return [k, b];
}));
/** Room for everything of a row but its id, data and meta: the numbers, the kind, two lengths. */
const ROW_FIXED_ROOM = 8 + 8 + 16 + 4 + 8 + 2 * MAX_LENGTH_BYTES + 4 + 1 + 8;

/** The most bytes writeEventRow writes for these contents. */
export function eventRowRoom(fixed: EventRowFixed, data: Uint8Array | null, meta: string): number {
  return fixed.sid.length + ROW_FIXED_ROOM + (data ? data.length : 0) + meta.length * 3;
}

/**
 * Writes the event's row in RowBinary from `at` (the columns of COLUMNS.events); returns the
 * end. `meta` is well-formed JSON or "". The caller made room (eventRowRoom).
 */
export function writeEventRow(buf: Buffer, at: number, fixed: EventRowFixed, seq: number, ts: number, kind: EventKind, channel: number, offset: number,
  data: Uint8Array | null, meta: string, chunk: number, v: number): number {
  // set(), not copy(): for a few dozen bytes it is the cheaper call.
  buf.set(fixed.sid, at);
  at = write64(buf, at + fixed.sid.length, seq);
  at = write64(buf, at, ts);
  const kindBytes = KIND_BYTES.get(kind) as Buffer;
  buf.set(kindBytes, at);
  at += kindBytes.length;
  at = buf.writeUInt32LE(channel, at);
  at = write64(buf, at, offset);
  if (data) at = writeBytes(buf, at, data);
  else buf[at++] = 0;
  at = writeString(buf, at, meta);
  at = buf.writeUInt32LE(chunk, at);
  buf[at++] = v;
  return write64(buf, at, fixed.startedAt);
}

/** An event row as stored, for rebuilding its bytes. */
export interface StoredEventRow {
  seq: number;
  ts: number;
  kind: EventKind;
  channel: number;
  offset: number;
  data: Buffer;
  meta: string;
  chunk: number;
  v: number;
  startedAt: number;
}

/**
 * The bytes a stored event row had when its chain hashed it: version 1 rows were
 * TabSeparated lines ended by "\n", later ones RowBinary.
 */
export function eventRowBytes(sessionId: string, r: StoredEventRow): Buffer {
  if (r.v <= 1) return Buffer.from(`${eventLineV1(field(wellFormed(sessionId)), { ...r, b64: r.data.toString("base64") })}\n`);
  const fixed = eventRowFixed(sessionId, r.startedAt);
  const meta = wellFormed(r.meta);
  const buf = Buffer.alloc(eventRowRoom(fixed, r.data, meta));
  return buf.subarray(0, writeEventRow(buf, 0, fixed, r.seq, r.ts, r.kind, r.channel, r.offset, r.data, meta, r.chunk, r.v));
}

/** Where the RowBinary event row that starts at `at` ends, or -1 when `body` ends first. */
export function eventRowEnd(body: Uint8Array, at: number): number {
  const skipString = (from: number): number => {
    const length = readLength(body, from);
    return length === null ? -1 : length[1] + length[0];
  };
  let p = skipString(at);
  if (p < 0) return -1;
  p = skipString(p + 16);
  if (p < 0) return -1;
  p = skipString(p + 12);
  if (p < 0) return -1;
  p = skipString(p);
  if (p < 0) return -1;
  p += 13;
  return p <= body.length ? p : -1;
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
