// Ingest: rows from every recording on this node, batched by count, size and time into
// ClickHouse. Memory is bounded by water marks that the engines see as backpressure. When
// ClickHouse is unavailable, batches go to the spool (synced to disk, so they count as kept)
// and a drain sends them, in order, once it is back; batches made meanwhile queue behind
// them in the spool. A part ClickHouse refuses for its content is split until the rows it
// refuses are isolated: those are dropped and logged, the rest stored.
import { randomUUID } from "node:crypto";
import { RecorderError } from "./errors.js";
import { cause } from "./clickhouse.js";
import type { LogOnce } from "./log-once.js";
import type { BatchPart, RecordSink, TableName } from "./ports.js";
import type { Spool } from "./spool.js";
import { ByteQueue } from "./byte-queue.js";
import { eventRowEnd, FORMATS } from "./tables.js";

export interface IngestLimits {
  /** A batch is made as soon as this many rows wait, and the next begins to fill. Default 65536. */
  batchRows: number;
  /** ...or this many bytes of rows. Default 16 MiB. */
  batchBytes: number;
  /** The longest a row waits before its batch is sent. Default 1000 ms. */
  flushMs: number;
  /** Above this many bytes held, output()/input() return false. Default 64 MiB. */
  highWaterBytes: number;
  /** waitWritable() resolves once held bytes fall below this. Default 32 MiB. */
  lowWaterBytes: number;
  /** Retry delays while ClickHouse is unavailable: from min, doubling to max. Default 250 ms .. 10 s. */
  retryMinMs: number;
  retryMaxMs: number;
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = {
  batchRows: 262_144,
  batchBytes: 48 << 20,
  flushMs: 1000,
  highWaterBytes: 128 << 20,
  lowWaterBytes: 64 << 20,
  retryMinMs: 250,
  retryMaxMs: 10_000,
};

const TABLES: readonly TableName[] = ["sessions", "events", "chunks", "keyframes", "text"];
const TABLE_INDEX = new Map(TABLES.map((t, i) => [t, i]));

export interface IngestStats {
  /** Bytes of rows held in memory (queued or being stored). */
  bufferedBytes: number;
  rowsStored: number;
  rowsSpooled: number;
  rowsDropped: number;
  spooledBatches: number;
  spoolBytes: number;
}

export class Ingest {
  #sink: RecordSink;
  #spool: Spool;
  #log: LogOnce;
  #limits: IngestLimits;

  #queues = TABLES.map(() => new ByteQueue());
  #queuedRows = 0;
  #queuedBytes = 0;
  /** Batches made and waiting for their turn, oldest first; the first may be being stored. */
  #batches: Batch[] = [];
  #batchedBytes = 0;
  #batchSoon = false;
  #added = 0;
  #done = 0;
  #flushWaiters: { upTo: number; resolve: () => void }[] = [];
  #writableWaiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | null = null;
  #wanted = false;
  #running: Promise<void> | null = null;
  #draining: Promise<void> | null = null;
  #drainWaiters: (() => void)[] = [];
  #stopping = false;
  #closed = false;
  #sleepers = new Set<() => void>();
  #stats = { rowsStored: 0, rowsSpooled: 0, rowsDropped: 0 };
  /** Insert tokens are this, the table and a count: unique to the part, kept with it in the spool. */
  #tokenPrefix = randomUUID();
  #parts = 0;

  /**
   * Called before each batch is made: rows read from the queue's buffers after that (the hash
   * chain reads event rows from there) must be read now, since a stored batch's buffer is
   * reused for later rows.
   */
  beforeBatch: () => void = () => {};

  constructor(sink: RecordSink, spool: Spool, log: LogOnce, limits: IngestLimits) {
    this.#sink = sink;
    this.#spool = spool;
    this.#log = log;
    this.#limits = limits;
    if (spool.pending > 0) {
      log.logger.info("recording spool holds batches from before; sending them to ClickHouse", { batches: spool.pending });
      this.#startDrain();
    }
  }

  /** Queues a TabSeparated row (every table's but the events'). */
  add(table: Exclude<TableName, "events">, line: string): void {
    const bytes = (this.#queues[TABLE_INDEX.get(table) ?? 0] as ByteQueue).push(line);
    this.added(table, bytes);
  }

  /** The events table's queue, for rows written in place; each is then told to added(). */
  get events(): ByteQueue {
    return this.#queues[TABLE_INDEX.get("events") as number] as ByteQueue;
  }

  /** Counts a row written into a queue in place. */
  added(table: TableName, bytes: number): void {
    this.#queuedBytes += bytes;
    this.#queuedRows++;
    this.#added++;
    if (this.#closed) {
      this.#log.warn("add-after-close", "recording: rows came after the recorder closed; they are not stored", { table });
      return;
    }
    if (this.#queuedRows >= this.#limits.batchRows || this.#queuedBytes >= this.#limits.batchBytes) {
      // Made right after the engine's call returns, so it stays about this size and the
      // next fills while it is stored.
      if (!this.#batchSoon) {
        this.#batchSoon = true;
        queueMicrotask(() => {
          this.#batchSoon = false;
          this.#batch();
          this.#want();
        });
      }
    } else {
      this.#timer ??= setTimeout(() => this.#want(), this.#limits.flushMs);
    }
  }

  get bufferedBytes(): number {
    return this.#queuedBytes + this.#batchedBytes;
  }

  get writable(): boolean {
    return this.bufferedBytes < this.#limits.highWaterBytes;
  }

  waitWritable(): Promise<void> {
    if (this.bufferedBytes < this.#limits.lowWaterBytes) return Promise.resolve();
    this.#want();
    return new Promise((resolve) => this.#writableWaiters.push(resolve));
  }

  /** Sends what is queued without waiting for the timer. */
  flushSoon(): void {
    this.#want();
  }

  /** Resolves once every row added before the call is stored or spooled. */
  flush(): Promise<void> {
    const upTo = this.#added;
    if (this.#done >= upTo) return Promise.resolve();
    this.#want();
    return new Promise((resolve) => this.#flushWaiters.push({ upTo, resolve }));
  }

  /** Resolves once every row added before the call is in ClickHouse (the spool drained). */
  async drained(): Promise<void> {
    await this.flush();
    while (this.#spool.pending > 0 || this.#draining) {
      this.#startDrain();
      await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    }
  }

  stats(): IngestStats {
    return { bufferedBytes: this.bufferedBytes, ...this.#stats, spooledBatches: this.#spool.pending, spoolBytes: this.#spool.bytes };
  }

  /** Stops the drain, then stores or spools everything queued (the spool keeps the rest for the next start). */
  async close(): Promise<void> {
    this.#stopping = true;
    for (const wake of [...this.#sleepers]) wake();
    await this.#draining;
    await this.flush();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#spool.close();
  }

  #want(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#wanted = true;
    if (this.#running !== null) return;
    this.#running = this.#run().finally(() => {
      this.#running = null;
      // Rows may have come, and been asked for, after the loop's last look.
      if (this.#queuedRows === 0 && this.#batches.length === 0) this.#wanted = false;
      else if (this.#wanted || this.#batches.length > 0) this.#want();
      else this.#timer ??= setTimeout(() => this.#want(), this.#limits.flushMs);
    });
  }

  async #run(): Promise<void> {
    for (;;) {
      if (this.#batches.length === 0) {
        if (!this.#wanted || this.#queuedRows === 0) return;
        this.#batch();
        this.#wanted = this.#flushWaiters.length > 0 || this.#writableWaiters.length > 0;
      }
      // Batches are stored one at a time, in the order they were made.
      const batch = this.#batches[0] as Batch;
      try {
        await this.#store(batch.parts, batch.rows);
        // Stored, spooled or given up: nothing reads the parts' bytes any more.
        for (const p of batch.parts) this.#queues[TABLE_INDEX.get(p.table) as number]?.recycle(p.body);
      } finally {
        this.#batches.shift();
        this.#batchedBytes -= batch.bytes;
        this.#done += batch.rows;
        this.#settle();
      }
    }
  }

  /** Makes a batch of every row queued. */
  #batch(): void {
    if (this.#queuedRows === 0) return;
    this.beforeBatch();
    const parts: BatchPart[] = [];
    this.#queues.forEach((queue, i) => {
      if (queue.rows === 0) return;
      const { body, rows } = queue.take();
      const table = TABLES[i] as TableName;
      parts.push({ table, format: FORMATS[table], rows, body, token: `${table}-${this.#tokenPrefix}-${this.#parts++}` });
    });
    this.#batches.push({ parts, rows: this.#queuedRows, bytes: this.#queuedBytes });
    this.#batchedBytes += this.#queuedBytes;
    this.#queuedRows = 0;
    this.#queuedBytes = 0;
  }

  async #store(parts: BatchPart[], rows: number): Promise<void> {
    let delay = this.#limits.retryMinMs;
    for (;;) {
      if (this.#spool.pending === 0 && this.#draining === null) {
        try {
          await this.#insert(parts);
          this.#stats.rowsStored += rows;
          return;
        } catch (err) {
          this.#unavailable(err);
        }
      }
      try {
        await this.#spool.append(parts);
        this.#stats.rowsSpooled += rows;
        this.#startDrain();
        return;
      } catch (err) {
        if (this.#stopping) {
          this.#stats.rowsDropped += rows;
          this.#log.logger.error("recording: rows lost at shutdown, neither ClickHouse nor the spool took them", { rows, err: (err as Error).message });
          return;
        }
        this.#log.error("spool", "recording: the spool cannot be written either; rows stay in memory (engines are slowed) until one of them works", { err: (err as Error).message });
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#limits.retryMaxMs);
      }
    }
  }

  /** A batch's parts (one per table) are stored side by side; the batch is stored once all are. */
  async #insert(parts: readonly BatchPart[]): Promise<void> {
    const results = await Promise.allSettled(parts.map((p) => this.#insertPart(p)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  async #insertPart(p: BatchPart): Promise<void> {
    try {
      await this.#sink.insert(p);
    } catch (err) {
      if (!(err instanceof RecorderError && err.code === "BATCH_REFUSED")) throw err;
      const halves = p.rows > 1 ? split(p) : null;
      if (halves === null) {
        this.#stats.rowsDropped += p.rows;
        this.#log.error(`refused:${p.table}`, "recording: ClickHouse refused a row; it is dropped and the rest of its batch kept", { table: p.table, cause: err.message });
        return;
      }
      const [a, b] = halves;
      await this.#insertPart(a);
      await this.#insertPart(b);
    }
  }

  #unavailable(err: unknown): void {
    this.#log.warn("unavailable", "recording: ClickHouse is unavailable; batches go to the local spool until it is back", { cause: cause(err) });
  }

  #startDrain(): void {
    if (this.#draining || this.#stopping) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#spool.pending > 0 && !this.#stopping) this.#startDrain();
      else for (const w of this.#drainWaiters.splice(0)) w();
    });
  }

  async #drain(): Promise<void> {
    let delay = this.#limits.retryMinMs;
    let sent = 0;
    while (!this.#stopping) {
      try {
        const head = await this.#spool.head();
        if (head === null) break;
        await this.#insert(head.parts);
        await head.ack();
        sent++;
        delay = this.#limits.retryMinMs;
      } catch (err) {
        if (err instanceof RecorderError && err.code === "SPOOL_FAILED") this.#log.error("spool-read", "recording: the spool cannot be read", { err: err.message });
        else this.#unavailable(err);
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#limits.retryMaxMs);
      }
    }
    if (sent > 0 && this.#spool.pending === 0) {
      if (this.#log.clear("unavailable")) this.#log.logger.info("recording: ClickHouse is back; the spool is drained", { batches: sent });
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  #settle(): void {
    if (this.#flushWaiters.length > 0) {
      const ready = this.#flushWaiters.filter((w) => this.#done >= w.upTo);
      this.#flushWaiters = this.#flushWaiters.filter((w) => this.#done < w.upTo);
      for (const w of ready) w.resolve();
    }
    if (this.#writableWaiters.length > 0 && this.bufferedBytes < this.#limits.lowWaterBytes) {
      for (const w of this.#writableWaiters.splice(0)) w();
    }
  }
}

interface Batch {
  parts: BatchPart[];
  rows: number;
  bytes: number;
}

/**
 * Halves a part at a row boundary; the halves' tokens derive from the whole's. Null when its
 * first row cannot be read to its end (RowBinary cut short): nothing in it can be told apart.
 */
export function split(p: BatchPart): [BatchPart, BatchPart] | null {
  const half = Math.floor(p.rows / 2);
  let at = 0;
  let rows = 0;
  for (; rows < half; rows++) {
    const next = p.format === "RowBinary" ? eventRowEnd(p.body, at) : p.body.indexOf(10, at) + 1;
    if (next <= 0) break;
    at = next;
  }
  if (rows === 0) return null;
  return [
    { ...p, rows, body: p.body.subarray(0, at), token: `${p.token}.a` },
    { ...p, rows: p.rows - rows, body: p.body.subarray(at), token: `${p.token}.b` },
  ];
}
