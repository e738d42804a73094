// The local spool: batches that could not reach ClickHouse, kept on disk in order until they
// can. Segment files of framed records (magic, length, CRC-32, payload), each append synced
// to disk before it counts as kept. At open, a record cut short or not matching its checksum
// (a crash mid-write) ends its segment: the segment is truncated there and the loss logged.
// A cursor file remembers how far the drain got; were it lost, records are sent again and
// ClickHouse drops them by their insert token.
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { RecorderError } from "./errors.js";
import type { BatchPart, RecorderLogger, TableName } from "./ports.js";

const MAGIC = 0x4a475331; // "JGS1"
const HEADER = 12;
const SEGMENT_BYTES = 64 << 20;
const MAX_RECORD = 1 << 30;
const SEGMENT = /^(\d{12})\.spool$/;
const CURSOR = "cursor.json";

const name = (n: number) => `${String(n).padStart(12, "0")}.spool`;

export function encodeRecord(parts: readonly BatchPart[]): Buffer {
  const pieces: Buffer[] = [];
  const count = Buffer.alloc(2);
  count.writeUInt16BE(parts.length);
  pieces.push(count);
  for (const p of parts) {
    // A part in the format of recording version 1 is named by its table alone, as then.
    const table = Buffer.from(p.format === "TabSeparated" ? p.table : `${p.table}/${p.format}`, "latin1");
    const token = Buffer.from(p.token, "utf8");
    const head = Buffer.alloc(1 + table.length + 2 + token.length + 8);
    let at = head.writeUInt8(table.length);
    at += table.copy(head, at);
    at = head.writeUInt16BE(token.length, at);
    at += token.copy(head, at);
    at = head.writeUInt32BE(p.rows, at);
    head.writeUInt32BE(p.body.length, at);
    pieces.push(head, p.body);
  }
  const payload = Buffer.concat(pieces);
  const header = Buffer.alloc(HEADER);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(payload.length, 4);
  header.writeUInt32BE(crc32(payload), 8);
  return Buffer.concat([header, payload]);
}

function decodePayload(payload: Buffer): BatchPart[] {
  let at = 0;
  const count = payload.readUInt16BE(at);
  at += 2;
  const parts: BatchPart[] = [];
  for (let i = 0; i < count; i++) {
    const tl = payload.readUInt8(at);
    const [table, format] = payload.toString("latin1", at + 1, at + 1 + tl).split("/") as [TableName, string | undefined];
    at += 1 + tl;
    const kl = payload.readUInt16BE(at);
    const token = payload.toString("utf8", at + 2, at + 2 + kl);
    at += 2 + kl;
    const rows = payload.readUInt32BE(at);
    const bl = payload.readUInt32BE(at + 4);
    at += 8;
    parts.push({ table, format: format === "RowBinary" ? "RowBinary" : "TabSeparated", token, rows, body: payload.subarray(at, at + bl) });
    at += bl;
  }
  return parts;
}

/** Where the valid records of a segment's bytes end, and how many there are after `from`. */
function scan(bytes: Buffer, from: number): { end: number; records: number } {
  let at = 0;
  let records = 0;
  while (at + HEADER <= bytes.length) {
    const length = bytes.readUInt32BE(at + 4);
    if (bytes.readUInt32BE(at) !== MAGIC || length > MAX_RECORD || at + HEADER + length > bytes.length) break;
    if (crc32(bytes.subarray(at + HEADER, at + HEADER + length)) !== bytes.readUInt32BE(at + 8)) break;
    if (at >= from) records++;
    at += HEADER + length;
  }
  return { end: at, records };
}

export interface SpooledBatch {
  parts: BatchPart[];
  /** Marks the batch stored: the next head() returns the one after it. */
  ack(): Promise<void>;
}

interface Writer {
  segment: number;
  handle: FileHandle;
  size: number;
}

export class Spool {
  #dir: string;
  #logger: RecorderLogger;
  /** Segment numbers on disk, oldest first. */
  #segments: number[];
  #read: { segment: number; offset: number };
  #writer: Writer | null = null;
  /** Records on disk not yet acknowledged. */
  #stored: number;
  /** Appends called and not yet written. */
  #queued = 0;
  #bytes: number;
  #lock: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, logger: RecorderLogger, segments: number[], read: { segment: number; offset: number }, pending: number, bytes: number) {
    this.#dir = dir;
    this.#logger = logger;
    this.#segments = segments;
    this.#read = read;
    this.#stored = pending;
    this.#bytes = bytes;
  }

  /** Opens (or creates) the spool in `dir`, cutting off a torn tail. */
  static async open(dir: string, logger: RecorderLogger): Promise<Spool> {
    try {
      await mkdir(dir, { recursive: true });
      const segments = (await readdir(dir)).map((f) => SEGMENT.exec(f)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
      let read = { segment: segments[0] ?? 1, offset: 0 };
      try {
        const saved = JSON.parse(await readFile(join(dir, CURSOR), "utf8")) as { segment?: unknown; offset?: unknown };
        if (typeof saved.segment === "number" && typeof saved.offset === "number" && segments.includes(saved.segment)) read = { segment: saved.segment, offset: saved.offset };
      } catch {
        // No cursor: drain from the first segment; the insert tokens make a repeat harmless.
      }
      let pending = 0;
      let bytes = 0;
      for (const segment of [...segments]) {
        const path = join(dir, name(segment));
        if (segment < read.segment) {
          await rm(path, { force: true });
          segments.splice(segments.indexOf(segment), 1);
          continue;
        }
        const content = await readFile(path);
        const from = segment === read.segment ? read.offset : 0;
        const { end, records } = scan(content, from);
        if (end < content.length) {
          logger.warn("recording spool: a damaged or incomplete record ends a segment; the bytes after it are dropped", { segment: name(segment), keptBytes: end, droppedBytes: content.length - end });
          await truncate(path, end);
        }
        if (segment === read.segment && read.offset > end) read.offset = end;
        pending += records;
        bytes += end;
      }
      return new Spool(dir, logger, segments, read, pending, bytes);
    } catch (err) {
      throw new RecorderError("SPOOL_FAILED", `the recording spool in ${dir} could not be opened: ${(err as Error).message}`, err);
    }
  }

  /** Batches kept and not yet acknowledged (counting appends still being written). */
  get pending(): number {
    return this.#stored + this.#queued;
  }

  /** Bytes on disk. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends a batch and syncs it to disk. */
  append(parts: readonly BatchPart[]): Promise<void> {
    this.#queued++;
    return this.#serial(async () => {
      try {
        const record = encodeRecord(parts);
        if (this.#writer === null || this.#writer.size + record.length > SEGMENT_BYTES) await this.#rollWriter();
        const w = this.#writer as Writer | null;
        if (w === null) throw new Error("no segment to write to");
        await w.handle.write(record, 0, record.length, w.size);
        await w.handle.datasync();
        w.size += record.length;
        this.#bytes += record.length;
        this.#stored++;
      } catch (err) {
        throw new RecorderError("SPOOL_FAILED", `a batch could not be written to the recording spool: ${(err as Error).message}`, err);
      } finally {
        this.#queued--;
      }
    });
  }

  /** The oldest batch not yet acknowledged, or null. */
  head(): Promise<SpooledBatch | null> {
    return this.#serial(async () => {
      for (;;) {
        const { segment, offset } = this.#read;
        if (!this.#segments.includes(segment)) return this.#drained();
        const path = join(this.#dir, name(segment));
        const size = this.#writer?.segment === segment ? this.#writer.size : (await stat(path)).size;
        if (offset + HEADER <= size) {
          const handle = await open(path, "r");
          try {
            const header = Buffer.alloc(HEADER);
            await handle.read(header, 0, HEADER, offset);
            const length = header.readUInt32BE(4);
            const payload = Buffer.alloc(length);
            await handle.read(payload, 0, length, offset + HEADER);
            const next = offset + HEADER + length;
            if (header.readUInt32BE(0) === MAGIC && crc32(payload) === header.readUInt32BE(8)) {
              return { parts: decodePayload(payload), ack: () => this.#ack(segment, next) };
            }
            this.#logger.error("recording spool: a record changed on disk since it was written; the rest of its segment is skipped", { segment: name(segment), offset });
            if (this.#writer?.segment === segment) this.#writer.size = offset;
            await truncate(path, offset);
          } finally {
            await handle.close();
          }
        }
        const later = this.#segments.find((s) => s > segment);
        if (later === undefined) return this.#drained();
        await this.#drop(segment);
        this.#read = { segment: later, offset: 0 };
      }
    });
  }

  async close(): Promise<void> {
    await this.#serial(async () => {
      await this.#writer?.handle.close();
      this.#writer = null;
    });
  }

  /** Nothing left to read: whatever was counted is gone (a damaged record skipped). */
  #drained(): null {
    this.#stored = 0;
    return null;
  }

  #ack(segment: number, next: number): Promise<void> {
    return this.#serial(async () => {
      if (this.#read.segment !== segment || next <= this.#read.offset) return;
      this.#read = { segment, offset: next };
      this.#stored = Math.max(0, this.#stored - 1);
      if (this.#stored === 0 && this.#queued === 0) {
        // Drained: start afresh, so the spool takes no room while ClickHouse is up.
        for (const s of [...this.#segments]) await this.#drop(s);
        this.#read = { segment: segment + 1, offset: 0 };
        await rm(join(this.#dir, CURSOR), { force: true });
        return;
      }
      const tmp = join(this.#dir, `${CURSOR}.tmp`);
      await writeFile(tmp, JSON.stringify(this.#read));
      await rename(tmp, join(this.#dir, CURSOR));
    });
  }

  async #drop(segment: number): Promise<void> {
    if (this.#writer?.segment === segment) {
      await this.#writer.handle.close();
      this.#bytes -= this.#writer.size;
      this.#writer = null;
    } else {
      this.#bytes -= await stat(join(this.#dir, name(segment))).then((s) => s.size, () => 0);
    }
    this.#bytes = Math.max(0, this.#bytes);
    this.#segments = this.#segments.filter((s) => s !== segment);
    await rm(join(this.#dir, name(segment)), { force: true });
  }

  async #rollWriter(): Promise<void> {
    await this.#writer?.handle.close();
    const last = this.#segments[this.#segments.length - 1];
    const segment = Math.max(last ?? 0, this.#read.segment - 1) + 1;
    // A segment found at open is never appended to: its tail may have been cut.
    const handle = await open(join(this.#dir, name(segment)), "w");
    this.#segments.push(segment);
    if (this.#segments.length === 1) this.#read = { segment, offset: 0 };
    this.#writer = { segment, handle, size: 0 };
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }
}
