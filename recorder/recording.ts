// One session's recording: turns the engine's calls into event rows (event-rows.ts: seq,
// hash chain, gathering) with per-channel byte offsets, feeds pty channels to a terminal
// indexer (keyframes and searchable text), and seals the chain at the end.
// Every engine-facing method returns at once and never throws; a fault is logged once per
// cause and the session goes on.
import { digestMessage, type ChainLimits } from "./chain.js";
import { EventRows } from "./event-rows.js";
import type { RecordedEvent } from "./events.js";
import type { Ingest } from "./ingest.js";
import { Viewer, type LiveListener, type LiveSubscription } from "./live.js";
import type { LogOnce } from "./log-once.js";
import { RECORDING_VERSION, type ChannelOpen, type HttpExchange, type SessionRecording, type SessionStart, type SftpOperation, type SqlStatement } from "./model.js";
import type { RecordingSigner } from "./ports.js";
import { field, keyframeLine, sessionLine, textLine, wellFormed, type EventKind, type SessionRow, type TextRow } from "./tables.js";
import type { Indexer, TerminalIndexerOptions } from "./terminal/index.js";
import { MAX_TEXT_LINE, textRowsOf } from "./text-rows.js";

/** Output or input beyond this is split into several events, so no row is huge. */
export const MAX_EVENT_BYTES = 64 * 1024;
/** SQL text kept per statement; the rest is cut with a note. */
const MAX_SQL_TEXT = 1 << 20;
/** The longest end() waits for the session's rows to be stored or spooled. */
const END_WAIT_MS = 10_000;

export interface RecordingContext {
  ingest: Ingest;
  log: LogOnce;
  now: () => number;
  signer: RecordingSigner | null;
  chain: ChainLimits;
  terminal: (opts: TerminalIndexerOptions) => Indexer;
  keyframeIntervalMs: number | undefined;
  /** Called once the recording has ended and everything is handed to ingest. */
  forget(recording: Recording): void;
  /** Asks for settle() at the end of this turn of the event loop. */
  settleSoon(recording: Recording): void;
}

interface Channel {
  /** The recording's number for it: the order it opened in. */
  id: number;
  out: number;
  in: number;
  indexer: Indexer | null;
}

export class Recording implements SessionRecording {
  readonly sessionId: string;
  #ctx: RecordingContext;
  #start: SessionStart;
  #sid: string;
  #who: string;
  #rows: EventRows;
  /** By the engine's channel number, while open. */
  #channels = new Map<number, Channel>();
  #nextChannel = 0;
  #lastPty: Channel | null = null;
  #bytesOut = 0;
  #bytesIn = 0;
  #finishing = new Set<Promise<void>>();
  #viewers = new Set<Viewer>();
  #ended: Promise<void> | null = null;

  constructor(ctx: RecordingContext, start: SessionStart) {
    this.#ctx = ctx;
    this.sessionId = start.sessionId;
    this.#start = { ...start, startedAt: Number.isSafeInteger(start.startedAt) ? start.startedAt : Math.trunc(Number(start.startedAt)) || ctx.now() };
    this.#sid = field(wellFormed(start.sessionId));
    this.#who = [start.sessionId, start.userName, start.targetName, start.protocol].map((s) => field(wellFormed(String(s)))).join("\t");
    this.#rows = new EventRows({
      ingest: ctx.ingest, now: ctx.now, sessionId: start.sessionId, sid: this.#sid, startedAt: this.#start.startedAt, chain: ctx.chain,
      settleSoon: () => ctx.settleSoon(this),
    });
    ctx.ingest.add("sessions", sessionLine(this.#sessionRow(0, 0, "", "", "", "")));
    this.#event("start", 0, 0, JSON.stringify(this.#start));
  }

  channelOpen(open: ChannelOpen): void {
    this.#guard("channelOpen", () => {
      const ch = this.#open(open.channel);
      if (open.pty) {
        ch.indexer = this.#ctx.terminal({ cols: open.pty.cols, rows: open.pty.rows, keyframeIntervalMs: this.#ctx.keyframeIntervalMs });
        this.#lastPty = ch;
      }
      const { seq, ts } = this.#event("channel_open", ch.id, 0, JSON.stringify({ type: open.type, pty: open.pty, command: open.command, engineChannel: open.channel }));
      if (open.type === "exec" && open.command) this.#text({ ts, source: "exec", channel: ch.id, offset: 0, seq, line: open.command });
      this.#publish(() => ({ seq, ts, kind: "channel_open", channel: ch.id, open: { type: open.type, pty: open.pty, command: open.command } }));
    });
  }

  output(channel: number, data: Uint8Array): boolean {
    return this.#stream("output", channel, data);
  }

  input(channel: number, data: Uint8Array): boolean {
    return this.#stream("input", channel, data);
  }

  /** Runs once per read of a session: no closure, no object made for it. */
  #stream(kind: "output" | "input", channel: number, data: Uint8Array): boolean {
    if (this.#ended) this.#late(kind);
    else {
      try {
        this.#bytes(kind, channel, data);
      } catch (err) {
        this.#fault(kind, err);
      }
    }
    return this.#ctx.ingest.writable;
  }

  resize(channel: number, cols: number, rows: number): void {
    this.#guard("resize", () => {
      const ch = this.#channel(channel);
      const { seq, ts } = this.#event("resize", ch.id, 0, JSON.stringify({ cols, rows }));
      ch.indexer?.resize(ts, cols, rows);
      this.#publish(() => ({ seq, ts, kind: "resize", channel: ch.id, cols, rows }));
    });
  }

  channelClose(channel: number, exit: { code: number | null; signal: string | null }): void {
    this.#guard("channelClose", () => {
      const ch = this.#channel(channel);
      this.#channels.delete(channel);
      const { seq, ts } = this.#event("channel_close", ch.id, 0, JSON.stringify({ code: exit.code, signal: exit.signal }));
      this.#publish(() => ({ seq, ts, kind: "channel_close", channel: ch.id, exit: { code: exit.code, signal: exit.signal } }));
      if (ch.indexer) this.#finishIndexer(ch, ts);
    });
  }

  sftp(op: SftpOperation): void {
    this.#guard("sftp", () => {
      const ch = this.#channel(op.channel);
      const { channel: _engineChannel, ...rest } = op;
      const { seq, ts } = this.#event("sftp", ch.id, 0, JSON.stringify(rest));
      this.#text({ ts, source: "sftp", channel: ch.id, offset: 0, seq, line: `${op.op} ${op.path}${op.path2 ? ` ${op.path2}` : ""} ${op.status}` });
      this.#publish(() => ({ seq, ts, kind: "sftp", channel: ch.id, sftp: rest }));
    });
  }

  sql(statement: SqlStatement): boolean {
    if (this.#ended) this.#late("sql");
    else {
      try {
        this.#sql(statement);
      } catch (err) {
        this.#fault("sql", err);
      }
    }
    return this.#ctx.ingest.writable;
  }

  #sql(statement: SqlStatement): void {
    let stored = statement;
    const long = typeof statement.text !== "string" || statement.text.length > MAX_SQL_TEXT;
    const redact = this.#start.redactParameters && statement.params !== null;
    if (long || redact) {
      let text = String(statement.text);
      if (text.length > MAX_SQL_TEXT) text = `${text.slice(0, MAX_SQL_TEXT)} /* jitgate: statement cut at ${MAX_SQL_TEXT} of ${text.length} characters */`;
      const params = redact && statement.params ? statement.params.map((p) => (p === null ? null : "[redacted]")) : statement.params;
      stored = { ...statement, text, params };
    }
    const text = stored.text;
    const seq = this.#rows.row("sql", 0, 0, null, JSON.stringify(stored));
    const ts = this.#rows.ts;
    this.#text({ ts, source: "sql", channel: 0, offset: 0, seq, line: text });
    if (this.#viewers.size > 0) this.#publish(() => ({ seq, ts, kind: "sql", channel: 0, sql: stored }));
  }

  http(exchange: HttpExchange): boolean {
    this.#guard("http", () => {
      const { seq, ts } = this.#event("http", 0, 0, JSON.stringify(exchange));
      this.#text({ ts, source: "http", channel: 0, offset: 0, seq, line: `${exchange.method} ${exchange.path}${exchange.query ? `?${exchange.query}` : ""} ${exchange.status}` });
      this.#publish(() => ({ seq, ts, kind: "http", channel: 0, http: exchange }));
    });
    return this.#ctx.ingest.writable;
  }

  waitWritable(): Promise<void> {
    return this.#ctx.ingest.waitWritable();
  }

  end(reason: string): Promise<void> {
    this.#ended ??= this.#seal(String(reason)).catch((err: unknown) => this.#fault("end", err));
    return this.#ended;
  }

  get ended(): boolean {
    return this.#ended !== null;
  }

  /** Takes what the terminal indexers produced and closes a chunk open too long. Called every second or so. */
  /** Hashes the event rows the chain has not read yet: the batch they are in is about to be made. */
  hashPending(): void {
    this.#rows.chain.flush();
  }

  tick(): void {
    if (this.#ended) return;
    try {
      for (const ch of this.#channels.values()) if (ch.indexer) this.#collect(ch);
      this.settle();
      this.#rows.tick();
    } catch (err) {
      this.#fault("tick", err);
    }
  }

  /**
   * Watches the session: for a terminal, the screen first, then the events after it.
   * `channel` is the recording's channel number; by default the last pty channel opened.
   */
  watch(listener: LiveListener, opts: { channel?: number } = {}): LiveSubscription {
    const open = [...this.#channels.values()];
    const ch = opts.channel === undefined ? (this.#lastPty && open.includes(this.#lastPty) ? this.#lastPty : null) : open.find((c) => c.id === opts.channel) ?? null;
    const channel = ch?.id ?? opts.channel ?? null;
    let viewer: Viewer | null = null;
    const unsubscribe = () => {
      if (viewer) this.#viewers.delete(viewer);
    };
    viewer = new Viewer(listener, channel, ch !== null && ch.indexer !== null, unsubscribe);
    this.#viewers.add(viewer);
    const v = viewer;
    if (ch?.indexer) {
      ch.indexer.snapshot().then(
        (keyframe) => v.screen(keyframe),
        (err: unknown) => {
          this.#fault("snapshot", err);
          v.screen(null);
        },
      );
    } else if (channel !== null) {
      v.screen(null);
    }
    return { sessionId: this.sessionId, channel, unsubscribe };
  }

  // ---------------------------------------------------------------- internals

  #bytes(kind: "output" | "input", channel: number, data: Uint8Array): void {
    if (!(data instanceof Uint8Array) || data.length === 0) return;
    const ch = this.#channel(channel);
    for (let at = 0; at < data.length; at += MAX_EVENT_BYTES) {
      const piece = data.length <= MAX_EVENT_BYTES ? data : data.subarray(at, at + MAX_EVENT_BYTES);
      const offset = kind === "output" ? ch.out : ch.in;
      if (kind === "output") ch.out += piece.length;
      else ch.in += piece.length;
      const seq = this.#rows.gather(kind, ch.id, offset, piece);
      const ts = this.#rows.ts;
      if (ch.indexer) {
        if (kind === "output") ch.indexer.output(ts, offset, piece);
        else ch.indexer.input(ts, offset, piece);
      }
      // Copied for viewers: the engine may reuse its buffer once the call returns.
      if (this.#viewers.size > 0) this.#publish(() => ({ seq, ts, kind, channel: ch.id, offset, data: Uint8Array.prototype.slice.call(piece) }));
    }
    if (kind === "output") this.#bytesOut += data.length;
    else this.#bytesIn += data.length;
  }

  /** Writes the row being gathered, if any. */
  settle(): void {
    try {
      this.#rows.settle();
    } catch (err) {
      this.#fault("settle", err);
    }
  }

  #event(kind: EventKind, channel: number, offset: number, meta: string): { seq: number; ts: number } {
    const seq = this.#rows.row(kind, channel, offset, null, meta);
    return { seq, ts: this.#rows.ts };
  }

  #text(row: TextRow): void {
    if (row.line.length > MAX_TEXT_LINE) row.line = row.line.slice(0, MAX_TEXT_LINE);
    this.#ctx.ingest.add("text", textLine(this.#who, row, this.#start.startedAt));
  }

  #open(engineChannel: number): Channel {
    const ch: Channel = { id: this.#nextChannel++, out: 0, in: 0, indexer: null };
    this.#channels.get(engineChannel)?.indexer?.dispose();
    this.#channels.set(engineChannel, ch);
    return ch;
  }

  /** The open channel with this engine number; one is opened if the engine did not say (the bytes are kept all the same). */
  #channel(engineChannel: number): Channel {
    return this.#channels.get(engineChannel) ?? this.#open(engineChannel);
  }

  #collect(ch: Channel): void {
    const indexer = ch.indexer;
    if (!indexer) return;
    const { keyframes, text } = indexer.take();
    for (const k of keyframes) this.#ctx.ingest.add("keyframes", keyframeLine(this.#sid, ch.id, k, this.#start.startedAt));
    for (const r of textRowsOf(text)) this.#text({ ts: r.ts, source: r.source, channel: ch.id, offset: r.offset, seq: 0, line: r.line });
    const error = indexer.takeError();
    if (error) this.#ctx.log.warn(`terminal:${(error as { code?: string }).code ?? error.message}`, "recording: terminal rendering fault (the bytes are recorded all the same)", { sessionId: this.sessionId, cause: error.message });
  }

  #finishIndexer(ch: Channel, ts: number): void {
    const indexer = ch.indexer;
    if (!indexer) return;
    const done = indexer
      .finish(ts)
      .then(() => this.#collect(ch))
      .catch((err: unknown) => this.#fault("terminal-finish", err))
      .finally(() => {
        indexer.dispose();
        this.#finishing.delete(done);
      });
    this.#finishing.add(done);
  }

  async #seal(reason: string): Promise<void> {
    try {
      for (const ch of this.#channels.values()) this.#finishIndexer(ch, this.#ctx.now());
      this.#channels.clear();
      await Promise.all([...this.#finishing]);
      const { seq, ts } = this.#event("end", 0, 0, JSON.stringify({ reason }));
      this.#rows.close();
      const chain = this.#rows.chain;
      const digest = chain.digest;
      let keyId = "";
      let signature = "";
      const signer = this.#ctx.signer;
      if (signer) {
        try {
          signature = signer.sign(digestMessage(this.sessionId, digest, chain.chunks, chain.events)).toString("base64");
          keyId = signer.keyId;
        } catch (err) {
          this.#ctx.log.error("sign", "recording: the final digest could not be signed; it is stored unsigned", { cause: (err as Error).message });
        }
      }
      this.#ctx.ingest.add("sessions", sessionLine(this.#sessionRow(1, ts, reason, digest, keyId, signature)));
      for (const v of [...this.#viewers]) {
        v.event({ seq, ts, kind: "end", channel: 0, reason });
        v.end(reason);
      }
      this.#viewers.clear();
      this.#ctx.ingest.flushSoon();
      // Stored or spooled; with ClickHouse and the disk both failing, the rows wait in memory
      // and the session's end does not wait with them.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, END_WAIT_MS);
        timer.unref();
        void this.#ctx.ingest.flush().then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    } finally {
      this.#ctx.forget(this);
    }
  }

  #sessionRow(version: 0 | 1, endedAt: number, endReason: string, digest: string, keyId: string, signature: string): SessionRow {
    const s = this.#start;
    return {
      sessionId: s.sessionId, version, startedAt: s.startedAt, endedAt, protocol: s.protocol, grantId: s.grantId, userId: s.userId, userName: s.userName,
      targetId: s.targetId, targetName: s.targetName, login: s.login, clientAddress: s.clientAddress, node: s.node, redactParameters: s.redactParameters,
      endReason: wellFormed(endReason), events: version === 1 ? this.#rows.chain.events : 0, chunks: version === 1 ? this.#rows.chain.chunks : 0,
      bytesOut: this.#bytesOut, bytesIn: this.#bytesIn, digest, keyId, signature, v: RECORDING_VERSION,
    };
  }

  #publish(make: () => RecordedEvent): void {
    if (this.#viewers.size === 0) return;
    const event = make();
    for (const v of [...this.#viewers]) v.event(event);
  }

  #late(what: string): void {
    this.#ctx.log.warn(`late:${what}`, "recording: an engine reported an event after the session's recording ended; it is not recorded", { sessionId: this.sessionId, call: what });
  }

  #guard(what: string, fn: () => void): void {
    if (this.#ended) return this.#late(what);
    try {
      fn();
    } catch (err) {
      this.#fault(what, err);
    }
  }

  #fault(what: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.#ctx.log.error(`fault:${what}:${message.slice(0, 80)}`, "recording: a fault while recording; the session goes on", { sessionId: this.sessionId, call: what, cause: message.slice(0, 300) });
  }
}
