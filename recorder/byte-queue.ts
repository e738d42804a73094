// Rows of one table as bytes, appended to large buffers as they come. Holding bytes rather
// than millions of small strings keeps the garbage collector out of the ingest path: a
// row's string dies young, and a batch is a few buffers written out as they are.
const CHUNK = 1 << 20;
/**
 * A batch's rows are written into one buffer sized from the last batch, so that taking them
 * is a view, not a copy of tens of megabytes. This caps that size.
 */
const MAX_CHUNK = 64 << 20;
/**
 * Buffers of stored batches kept for the next rows. Their pages are already the process's:
 * writing rows into a fresh buffer of tens of MiB costs a page fault per 4 KiB (an eighth of
 * the main thread's time under SSH bulk), and every fresh buffer counts toward V8's external
 * memory, which starts full collections.
 */
const SPARES = 1;

export class ByteQueue {
  #chunks: Buffer[] = [];
  #current: Buffer = Buffer.allocUnsafe(0);
  #at = 0;
  #rows = 0;
  #bytes = 0;
  /** The size of the next buffer: a little more than the last batch took. */
  #next = CHUNK;
  #spares: Buffer[] = [];

  get rows(): number {
    return this.#rows;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Appends a line and a "\n"; returns the bytes added. */
  push(line: string): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const room = line.length * 3 + 1;
    if (this.#at + room > this.#current.length) {
      if (this.#at > 0) this.#chunks.push(this.#current.subarray(0, this.#at));
      this.#current = this.#alloc(room);
      this.#at = 0;
    }
    const buf = this.#current;
    const start = this.#at;
    let at = start + buf.write(line, start, "utf8");
    buf[at++] = 10;
    this.#at = at;
    this.#rows++;
    this.#bytes += at - start;
    return at - start;
  }

  /**
   * Makes room for a row of up to `max` bytes, to be written into the returned buffer from
   * `at` and ended with commit().
   */
  reserve(max: number): Buffer {
    if (this.#at + max > this.#current.length) {
      if (this.#at > 0) this.#chunks.push(this.#current.subarray(0, this.#at));
      this.#current = this.#alloc(max);
      this.#at = 0;
    }
    return this.#current;
  }

  /** Where the row being written begins. */
  get at(): number {
    return this.#at;
  }

  /** Ends the row written since reserve(), up to `end`. */
  commit(end: number): void {
    this.#bytes += end - this.#at;
    this.#at = end;
    this.#rows++;
  }

  /**
   * Everything queued as one body, and the queue emptied. The body is the start of a buffer
   * of its own, so recycle() may take it back once nothing reads it any more. Rows added
   * to the queue must not be read from their buffer after this call (hash them first).
   */
  take(): { body: Buffer; rows: number } {
    if (this.#at > 0) this.#chunks.push(this.#current.subarray(0, this.#at));
    const chunks = this.#chunks;
    let body: Buffer;
    if (chunks.length === 1) body = chunks[0] as Buffer;
    else {
      body = this.#alloc(this.#bytes).subarray(0, this.#bytes);
      let at = 0;
      for (const c of chunks) at += c.copy(body, at);
      for (const c of chunks) this.recycle(c);
    }
    const rows = this.#rows;
    this.#chunks = [];
    this.#next = Math.min(MAX_CHUNK, Math.max(CHUNK, Math.ceil(this.#bytes * 1.25)));
    this.#current = Buffer.alloc(0);
    this.#at = 0;
    this.#rows = 0;
    this.#bytes = 0;
    return { body, rows };
  }

  /** Takes back a body of take() whose rows are stored: its buffer holds the next rows. */
  recycle(body: Buffer): void {
    const ab = body.buffer;
    // Only a buffer this queue made (none of Node's shared pool) is taken back.
    if (body.byteOffset !== 0 || ab.byteLength < CHUNK || ab.byteLength > MAX_CHUNK || this.#spares.some((s) => s.buffer === ab)) return;
    this.#spares.push(Buffer.from(ab, 0, ab.byteLength));
    if (this.#spares.length > SPARES) this.#spares.sort((a, b) => b.length - a.length).pop();
  }

  /** A buffer of at least `min` bytes (and at least the next batch's size), a spare if one fits. */
  #alloc(min: number): Buffer {
    const size = Math.max(this.#next, min);
    const i = this.#spares.findIndex((s) => s.length >= size);
    const spare = i >= 0 ? (this.#spares.splice(i, 1)[0] as Buffer) : null;
    // One far larger than needed is let go: a quiet time would keep it alive.
    if (spare && spare.length <= 4 * size) return spare;
    return Buffer.allocUnsafeSlow(size);
  }
}
