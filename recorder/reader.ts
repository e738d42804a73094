// Reading recordings back: sessions, their events by range, keyframes for seeking, search
// over what was typed, shown, queried or requested, a terminal channel's events for replay
// and export, verification, and watching a session live on this node. Reads are robust to
// rows stored twice (a replayed batch that escaped deduplication): one row per (session, seq).
import type { ClickHouseClient } from "@clickhouse/client";
import { cause } from "./clickhouse.js";
import { RecorderError } from "./errors.js";
import { decodeEvent, type RecordedEvent } from "./events.js";
import type { LiveListener, LiveSubscription } from "./live.js";
import type { Protocol } from "./model.js";
import type { RecordingVerifier } from "./ports.js";
import type { Recorder } from "./recorder.js";
import { checkDatabaseName } from "./schema.js";
import { num } from "./stored-events.js";
import { EVENT_KINDS, TEXT_SOURCES, type EventKind, type TextSource } from "./tables.js";
import type { Keyframe, TerminalEvent } from "./terminal/index.js";
import { verifySession, type VerifyReport } from "./verify.js";

export interface SessionSummary {
  sessionId: string;
  protocol: Protocol;
  grantId: string;
  userId: string;
  userName: string;
  targetId: string;
  targetName: string;
  login: string;
  clientAddress: string;
  node: string;
  startedAt: number;
  /** Null while live (or when the node stopped before recording the end). */
  endedAt: number | null;
  /** To the end, or to now while live. */
  durationMs: number;
  live: boolean;
  endReason: string | null;
  /** Counted at the end; null while live. */
  events: number | null;
  bytesOut: number | null;
  bytesIn: number | null;
  /** The final digest is stored (the session ended and was sealed). */
  sealed: boolean;
  signed: boolean;
}

export interface SessionFilter {
  userName?: string;
  targetName?: string;
  protocol?: Protocol;
  state?: "live" | "ended";
  /** Sessions active at or after this time (epoch ms): still live, or ended since. */
  since?: number;
  /** Sessions started before this time. */
  until?: number;
  /** Default 100, at most 10,000. Newest first. */
  limit?: number;
}

export interface EventRange {
  /** First seq (inclusive). Default 0. */
  fromSeq?: number;
  /** Last seq (inclusive). */
  toSeq?: number;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  kinds?: EventKind[];
  /** The recording's channel number. */
  channel?: number;
  /** Default 1000, at most 100,000. */
  limit?: number;
}

export interface EventPage {
  events: RecordedEvent[];
  /** Pass as fromSeq for the next page; null when this page ended the range. */
  nextSeq: number | null;
}

export interface StoredKeyframe extends Keyframe {
  channel: number;
}

export interface SearchOptions {
  /** Epoch ms. Default: 30 days ago. */
  since?: number;
  until?: number;
  userName?: string;
  targetName?: string;
  sources?: TextSource[];
  /** Default 100, at most 10,000. */
  limit?: number;
}

export interface SearchHit {
  sessionId: string;
  userName: string;
  targetName: string;
  protocol: Protocol;
  /** When it happened; for lines shown on a terminal, when the block of lines it is in began (within a second). */
  ts: number;
  source: TextSource;
  channel: number;
  /** typed: input offset; shown: an output offset where its block of lines began to show; else 0. */
  offset: number;
  /** The event's seq for sql, http, exec and sftp; 0 for typed and shown (use ts or offset). */
  seq: number;
  /** The line that matched (for a multi-line statement, the matching line of it). */
  line: string;
}

export interface TerminalRecording {
  channel: number;
  header: { cols: number; rows: number; startedAt: number; title: string; env: Record<string, string> };
  events: TerminalEvent[];
}

export interface RecordingReaderOptions {
  client: ClickHouseClient;
  database?: string;
  /** Checks final digests' signatures; without it a signature reports "unknown-key". */
  verifier?: RecordingVerifier | null;
  /** This node's recorder, for watching its live sessions. */
  recorder?: Recorder | null;
}


/** Adds a condition and the parameters it names. */
function add(where: string[], params: Record<string, unknown>, condition: string, values: Record<string, unknown>): void {
  where.push(condition);
  Object.assign(params, values);
}

function limitOf(value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RecorderError("INVALID_QUERY", `limit must be a whole number of at least 1 (got ${value})`);
  return Math.min(value, max);
}

function time(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value)) throw new RecorderError("INVALID_QUERY", `${name} must be a time in epoch milliseconds (got ${value})`);
  return Math.trunc(value);
}

const SUMMARY = `session_id, protocol, grant_id, user_id, user_name, target_id, target_name, login, client_address, node,
  toUnixTimestamp64Milli(started_at) AS started, if(isNull(ended_at), 0, toUnixTimestamp64Milli(assumeNotNull(ended_at))) AS ended,
  end_reason, events, bytes_out, bytes_in, digest != '' AS sealed, signature != '' AS signed`;

type SummaryRow = Record<string, unknown>;

function summary(r: SummaryRow, now: number): SessionSummary {
  const ended = num(r.ended);
  const startedAt = num(r.started);
  const live = ended === 0;
  return {
    sessionId: String(r.session_id), protocol: String(r.protocol) as Protocol, grantId: String(r.grant_id), userId: String(r.user_id),
    userName: String(r.user_name), targetId: String(r.target_id), targetName: String(r.target_name), login: String(r.login),
    clientAddress: String(r.client_address), node: String(r.node), startedAt, endedAt: live ? null : ended,
    durationMs: Math.max(0, (live ? now : ended) - startedAt), live, endReason: live ? null : String(r.end_reason),
    events: live ? null : num(r.events), bytesOut: live ? null : num(r.bytes_out), bytesIn: live ? null : num(r.bytes_in),
    sealed: Boolean(num(r.sealed)), signed: Boolean(num(r.signed)),
  };
}

export class RecordingReader {
  readonly #client: ClickHouseClient;
  readonly #db: string;
  readonly #verifier: RecordingVerifier | null;
  readonly #recorder: Recorder | null;

  constructor(opts: RecordingReaderOptions) {
    this.#client = opts.client;
    this.#db = checkDatabaseName(opts.database ?? "jitgate");
    this.#verifier = opts.verifier ?? null;
    this.#recorder = opts.recorder ?? null;
  }

  /** Sessions, newest first. */
  async list(filter: SessionFilter = {}): Promise<SessionSummary[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: limitOf(filter.limit, 100, 10_000) };
    if (filter.userName !== undefined) add(where, params, "user_name = {userName:String}", { userName: filter.userName });
    if (filter.targetName !== undefined) add(where, params, "target_name = {targetName:String}", { targetName: filter.targetName });
    if (filter.protocol !== undefined) add(where, params, "protocol = {protocol:String}", { protocol: filter.protocol });
    if (filter.state === "live") where.push("isNull(ended_at)");
    if (filter.state === "ended") where.push("isNotNull(ended_at)");
    const since = time("since", filter.since);
    const until = time("until", filter.until);
    if (since !== undefined) add(where, params, "(isNull(ended_at) OR ended_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC'))", { since: since });
    if (until !== undefined) add(where, params, "started_at < fromUnixTimestamp64Milli({until:Int64}, 'UTC')", { until: until });
    const rows = await this.#rows<SummaryRow>(
      `SELECT ${SUMMARY} FROM ${this.#db}.sessions FINAL ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY started_at DESC, session_id LIMIT {limit:UInt32}`,
      params,
    );
    const now = Date.now();
    return rows.map((r) => summary(r, now));
  }

  async get(sessionId: string): Promise<SessionSummary | null> {
    const rows = await this.#rows<SummaryRow>(`SELECT ${SUMMARY} FROM ${this.#db}.sessions FINAL WHERE session_id = {sid:String} LIMIT 1`, { sid: sessionId });
    return rows[0] ? summary(rows[0], Date.now()) : null;
  }

  /** A session's events in seq order, one page at a time. */
  async events(sessionId: string, range: EventRange = {}): Promise<EventPage> {
    const limit = limitOf(range.limit, 1000, 100_000);
    const where = ["session_id = {sid:String}", "seq >= {from:UInt64}"];
    const params: Record<string, unknown> = { sid: sessionId, from: range.fromSeq ?? 0, limit };
    if (range.fromSeq !== undefined && (!Number.isSafeInteger(range.fromSeq) || range.fromSeq < 0)) throw new RecorderError("INVALID_QUERY", `fromSeq must be a whole number of at least 0 (got ${range.fromSeq})`);
    if (range.toSeq !== undefined) add(where, params, "seq <= {to:UInt64}", { to: Math.max(0, Math.trunc(range.toSeq)) });
    const since = time("since", range.since);
    const until = time("until", range.until);
    if (since !== undefined) add(where, params, "ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')", { since: since });
    if (until !== undefined) add(where, params, "ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC')", { until: until });
    if (range.kinds !== undefined) {
      const unknown = range.kinds.filter((k) => !EVENT_KINDS.includes(k));
      if (unknown.length > 0) throw new RecorderError("INVALID_QUERY", `unknown event kind ${JSON.stringify(unknown[0])}: use ${EVENT_KINDS.join(", ")}`);
      where.push("kind IN {kinds:Array(String)}");
      params.kinds = range.kinds;
    }
    if (range.channel !== undefined) add(where, params, "channel = {channel:UInt32}", { channel: range.channel });
    const rows = await this.#rows<Record<string, unknown>>(
      `SELECT seq, toUnixTimestamp64Milli(ts) AS t, kind, channel, offset, base64Encode(data) AS b64, meta
       FROM ${this.#db}.events WHERE ${where.join(" AND ")} ORDER BY seq LIMIT 1 BY seq LIMIT {limit:UInt32}`,
      params,
    );
    const events: RecordedEvent[] = [];
    for (const r of rows) {
      const e = decodeEvent({ seq: num(r.seq), ts: num(r.t), kind: String(r.kind) as EventKind, channel: num(r.channel), offset: num(r.offset), data: Buffer.from(String(r.b64), "base64"), meta: String(r.meta) });
      if (e) events.push(e);
    }
    const last = rows[rows.length - 1];
    return { events, nextSeq: rows.length === limit && last ? num(last.seq) + 1 : null };
  }

  /** The keyframe to seek to: the last at or before `offset` (output offset) or `ts`; by default the session's last. */
  async keyframeAt(sessionId: string, at: { channel?: number; offset?: number; ts?: number } = {}): Promise<StoredKeyframe | null> {
    const where = ["session_id = {sid:String}"];
    const params: Record<string, unknown> = { sid: sessionId };
    if (at.channel !== undefined) add(where, params, "channel = {channel:UInt32}", { channel: at.channel });
    if (at.offset !== undefined) add(where, params, "offset <= {offset:UInt64}", { offset: Math.max(0, Math.trunc(at.offset)) });
    const ts = time("ts", at.ts);
    if (ts !== undefined) add(where, params, "ts <= fromUnixTimestamp64Milli({ts:Int64}, 'UTC')", { ts: ts });
    const rows = await this.#rows<Record<string, unknown>>(
      `SELECT channel, offset, toUnixTimestamp64Milli(ts) AS t, cols, rows, screen FROM ${this.#db}.keyframes
       WHERE ${where.join(" AND ")} ORDER BY ts DESC, offset DESC LIMIT 1`,
      params,
    );
    const r = rows[0];
    return r ? { channel: num(r.channel), offset: num(r.offset), ts: num(r.t), cols: num(r.cols), rows: num(r.rows), screen: String(r.screen) } : null;
  }

  /** Where keyframes are (without their screens), in order. */
  async keyframes(sessionId: string, opts: { channel?: number; limit?: number } = {}): Promise<Omit<StoredKeyframe, "screen">[]> {
    const params: Record<string, unknown> = { sid: sessionId, limit: limitOf(opts.limit, 1000, 100_000) };
    let where = "session_id = {sid:String}";
    if (opts.channel !== undefined) {
      where += " AND channel = {channel:UInt32}";
      params.channel = opts.channel;
    }
    const rows = await this.#rows<Record<string, unknown>>(
      `SELECT channel, offset, toUnixTimestamp64Milli(ts) AS t, cols, rows FROM ${this.#db}.keyframes WHERE ${where}
       ORDER BY channel, offset LIMIT 1 BY channel, offset LIMIT {limit:UInt32}`,
      params,
    );
    return rows.map((r) => ({ channel: num(r.channel), offset: num(r.offset), ts: num(r.t), cols: num(r.cols), rows: num(r.rows) }));
  }

  /** Where `text` was typed, shown, queried or requested (case-insensitive), newest first. */
  async search(text: string, opts: SearchOptions = {}): Promise<SearchHit[]> {
    const needle = String(text);
    if (needle.trim() === "") throw new RecorderError("INVALID_QUERY", "search text is empty: give the words to look for");
    if (needle.length > 1000) throw new RecorderError("INVALID_QUERY", "search text is longer than 1000 characters: look for a shorter part of it");
    const lower = needle.toLowerCase();
    const where = ["ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')", "lowerUTF8(line) LIKE {pattern:String}"];
    const params: Record<string, unknown> = {
      since: time("since", opts.since) ?? Date.now() - 30 * 86_400_000,
      pattern: `%${lower.replace(/[\\%_]/g, (c) => `\\${c}`)}%`,
      limit: limitOf(opts.limit, 100, 10_000),
    };
    const until = time("until", opts.until);
    if (until !== undefined) add(where, params, "ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC')", { until: until });
    if (opts.userName !== undefined) add(where, params, "user_name = {userName:String}", { userName: opts.userName });
    if (opts.targetName !== undefined) add(where, params, "target_name = {targetName:String}", { targetName: opts.targetName });
    if (opts.sources !== undefined) {
      const unknown = opts.sources.filter((s) => !TEXT_SOURCES.includes(s));
      if (unknown.length > 0) throw new RecorderError("INVALID_QUERY", `unknown search source ${JSON.stringify(unknown[0])}: use ${TEXT_SOURCES.join(", ")}`);
      where.push("source IN {sources:Array(String)}");
      params.sources = opts.sources;
    }
    const rows = await this.#rows<Record<string, unknown>>(
      `SELECT toUnixTimestamp64Milli(ts) AS t, session_id, user_name, target_name, protocol, source, channel, offset, seq, line
       FROM ${this.#db}.text WHERE ${where.join(" AND ")}
       ORDER BY ts DESC LIMIT 1 BY session_id, ts, source, channel, offset, line LIMIT {limit:UInt32}`,
      params,
    );
    return rows.map((r) => {
      const line = String(r.line);
      const matching = line.includes("\n") ? line.split("\n").find((l) => l.toLowerCase().includes(lower)) ?? line : line;
      return {
        sessionId: String(r.session_id), userName: String(r.user_name), targetName: String(r.target_name), protocol: String(r.protocol) as Protocol,
        ts: num(r.t), source: String(r.source) as TextSource, channel: num(r.channel), offset: num(r.offset), seq: num(r.seq), line: matching.trim(),
      };
    });
  }

  /**
   * A terminal channel's output, input and resizes in order, with its size and start, for
   * toAsciicast() and replayFrames(). By default the session's first pty channel; null when
   * the session has none.
   */
  async terminal(sessionId: string, opts: { channel?: number } = {}): Promise<TerminalRecording | null> {
    const opens = await this.events(sessionId, { kinds: ["channel_open"], limit: 100_000, ...(opts.channel !== undefined ? { channel: opts.channel } : {}) });
    const open = opens.events.find((e) => e.kind === "channel_open" && e.open.pty !== null);
    if (!open || open.kind !== "channel_open" || !open.open.pty) return null;
    const { cols, rows, term } = open.open.pty;
    const events: TerminalEvent[] = [];
    for (let from: number | null = open.seq; from !== null; ) {
      const page = await this.events(sessionId, { fromSeq: from, channel: open.channel, kinds: ["output", "input", "resize"], limit: 50_000 });
      for (const e of page.events) {
        if (e.kind === "output" || e.kind === "input") events.push({ ts: e.ts, kind: e.kind, data: e.data });
        else if (e.kind === "resize") events.push({ ts: e.ts, kind: "resize", cols: e.cols, rows: e.rows });
      }
      from = page.nextSeq;
    }
    const session = await this.get(sessionId);
    const title = session ? `${session.userName} on ${session.login}@${session.targetName}` : sessionId;
    return { channel: open.channel, header: { cols, rows, startedAt: open.ts, title, env: { TERM: term } }, events };
  }

  /** Recomputes the session's hash chain and checks its final digest and signature. */
  async verify(sessionId: string): Promise<VerifyReport> {
    const live = this.#recorder?.live(sessionId) != null;
    return verifySession(this.#client, this.#db, sessionId, this.#verifier, live);
  }

  /**
   * Watches a session live on this node: for a terminal, its current screen first, then every
   * event after it (output offsets continue exactly from the screen's). Null when the session
   * is not live here.
   */
  watch(sessionId: string, listener: LiveListener, opts: { channel?: number } = {}): LiveSubscription | null {
    return this.#recorder?.live(sessionId)?.watch(listener, opts) ?? null;
  }

  async #rows<T>(query: string, params: Record<string, unknown>): Promise<T[]> {
    try {
      const rs = await this.#client.query({ query, query_params: params, format: "JSONEachRow" });
      return await rs.json<T>();
    } catch (err) {
      throw new RecorderError("UNAVAILABLE", `ClickHouse could not answer: ${cause(err)}`, err);
    }
  }
}
