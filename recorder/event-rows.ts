// One session's event rows as they are written into the ingest's events queue: their seq and
// time, the hash chain over them (and its chunk rows), and the gathering of a stream's pieces
// given in the same millisecond into one row.
import { ChainBuilder, type ChainLimits, type ClosedChunk } from "./chain.js";
import type { Ingest } from "./ingest.js";
import { RECORDING_VERSION } from "./model.js";
import { chunkLine, eventRowFixed, eventRowRoom, wellFormed, writeEventRow, type EventKind, type EventRowFixed } from "./tables.js";

/**
 * Pieces of one stream that arrive in the same millisecond are kept in one row (its time is
 * stored to the millisecond, so nothing is lost); up to this many bytes are gathered so.
 */
const GATHER_BYTES = 4096;

/** Bytes of one stream gathered into one row, not yet written. */
interface Gathered {
  kind: "output" | "input";
  channel: number;
  seq: number;
  ts: number;
  offset: number;
  length: number;
}

export interface EventRowsOptions {
  ingest: Ingest;
  now: () => number;
  sessionId: string;
  /** The session id as a TabSeparated field. */
  sid: string;
  startedAt: number;
  chain: ChainLimits;
  /** Asks for settle() at the end of this turn of the event loop. */
  settleSoon: () => void;
}

export class EventRows {
  readonly chain: ChainBuilder;
  #o: EventRowsOptions;
  #fixed: EventRowFixed;
  #seq = 0;
  #ts = 0;
  #gathered: Gathered | null = null;
  #gatherBuf = new Uint8Array(0);

  constructor(o: EventRowsOptions) {
    this.#o = o;
    this.#fixed = eventRowFixed(o.sessionId, o.startedAt);
    this.chain = new ChainBuilder(o.sessionId, o.chain);
  }

  /** The time of the last row written or gathered. */
  get ts(): number {
    return this.#ts;
  }

  /**
   * A piece of a byte stream: added to the row being gathered when it continues it in the same
   * millisecond, else the start of a new one (or, when large, a row of its own). Returns its seq.
   */
  gather(kind: "output" | "input", channel: number, offset: number, piece: Uint8Array): number {
    const ts = this.#o.now();
    const g = this.#gathered;
    if (g !== null && g.kind === kind && g.channel === channel && g.ts === ts && g.offset + g.length === offset && g.length + piece.length <= GATHER_BYTES) {
      this.#gatherBuf.set(piece, g.length);
      g.length += piece.length;
      this.#ts = ts;
      return g.seq;
    }
    this.settle();
    if (piece.length > GATHER_BYTES / 2) return this.row(kind, channel, offset, piece, "");
    if (this.#gatherBuf.length < GATHER_BYTES) this.#gatherBuf = new Uint8Array(GATHER_BYTES);
    this.#gatherBuf.set(piece, 0);
    const seq = this.#seq++;
    this.#gathered = { kind, channel, seq, ts, offset, length: piece.length };
    this.#ts = ts;
    this.#o.settleSoon();
    return seq;
  }

  /** Writes the row being gathered, if any. */
  settle(): void {
    const g = this.#gathered;
    if (g === null) return;
    this.#gathered = null;
    this.#write(g.seq, g.ts, g.kind, g.channel, g.offset, this.#gatherBuf.subarray(0, g.length), "");
  }

  /** Writes an event row after the one being gathered; returns its seq (its time is ts). */
  row(kind: EventKind, channel: number, offset: number, data: Uint8Array | null, meta: string): number {
    this.settle();
    const seq = this.#seq++;
    const ts = (this.#ts = this.#o.now());
    this.#write(seq, ts, kind, channel, offset, data, meta);
    return seq;
  }

  /** Closes a chunk open too long. Rows not yet hashed keep their batch's buffer alive: at most a tick of them. */
  tick(): void {
    this.chain.flush();
    this.#chunkClosed(this.chain.tick(this.#o.now()));
  }

  /** Closes the last chunk: the chain's digest is final. */
  close(): void {
    this.#chunkClosed(this.chain.close());
  }

  /** Writes an event row in place in the events queue. */
  #write(seq: number, ts: number, kind: EventKind, channel: number, offset: number, data: Uint8Array | null, meta: string): void {
    const json = meta === "" ? "" : wellFormed(meta);
    const ingest = this.#o.ingest;
    const queue = ingest.events;
    const buf = queue.reserve(eventRowRoom(this.#fixed, data, json));
    const start = queue.at;
    const end = writeEventRow(buf, start, this.#fixed, seq, ts, kind, channel, offset, data, json, this.chain.chunk, RECORDING_VERSION);
    queue.commit(end);
    ingest.added("events", end - start);
    this.#chunkClosed(this.chain.addIn(buf, start, end, seq, ts));
  }

  #chunkClosed(closed: ClosedChunk | null): void {
    if (closed) this.#o.ingest.add("chunks", chunkLine(this.#o.sid, { ...closed, ts: this.#o.now(), startedAt: this.#o.startedAt }));
  }
}
