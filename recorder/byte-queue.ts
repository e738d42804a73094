// Rows of one table as bytes, appended to large buffers as they come. Holding bytes rather
// than millions of small strings keeps the garbage collector out of the ingest path: a
// row's string dies young, and a batch is a few buffers written out as they are.
const CHUNK = 1 << 20;
/**
 * A batch's rows are written into one buffer sized from the last batch, so that taking them
 * is a view, not a copy of tens of megabytes. This caps that size.
 */
const MAX_CHUNK = 64 << 20;
/** ASCII pieces shorter than this are joined to the row's other pieces before writing. */
const SEPARATE_ASCII = 4096;

export class ByteQueue {
  #chunks: Buffer[] = [];
  #current: Buffer = Buffer.allocUnsafe(0);
  #at = 0;
  #rows = 0;
  #bytes = 0;
  /** The size of the next buffer: a little more than the last batch took. */
  #next = CHUNK;

  get rows(): number {
    return this.#rows;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Appends head, ascii and tail as one line and a "\n"; returns the bytes added (a view valid
   * until the next take()). `ascii` holds only ASCII (base64): it is copied as it is, not joined
   * into one string first nor scanned as UTF-8, which for a large row is most of the work.
   */
  push(head: string, ascii = "", tail = ""): Buffer {
    // A short row is cheaper written in one call.
    if (ascii.length < SEPARATE_ASCII && ascii.length + tail.length > 0) return this.push(`${head}${ascii}${tail}`);
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const room = (head.length + tail.length) * 3 + ascii.length + 1;
    if (this.#at + room > this.#current.length) {
      if (this.#at > 0) this.#chunks.push(this.#current.subarray(0, this.#at));
      this.#current = Buffer.allocUnsafe(Math.max(this.#next, room));
      this.#at = 0;
    }
    const buf = this.#current;
    const start = this.#at;
    let at = start + buf.write(head, start, "utf8");
    if (ascii.length > 0) at += buf.write(ascii, at, "latin1");
    if (tail.length > 0) at += buf.write(tail, at, "utf8");
    buf[at++] = 10;
    this.#at = at;
    this.#rows++;
    this.#bytes += at - start;
    return buf.subarray(start, at);
  }

  /**
   * Makes room for a row of up to `max` bytes, to be written into the returned buffer from
   * `at` and ended with commit().
   */
  reserve(max: number): Buffer {
    if (this.#at + max > this.#current.length) {
      if (this.#at > 0) this.#chunks.push(this.#current.subarray(0, this.#at));
      this.#current = Buffer.allocUnsafe(Math.max(this.#next, max));
      this.#at = 0;
    }
    return this.#current;
  }

  /** Where the row being written begins. */
  get at(): number {
    return this.#at;
  }

  /** Ends the row written since reserve(), up to `end` (its "\n" included). */
  commit(end: number): void {
    this.#bytes += end - this.#at;
    this.#at = end;
    this.#rows++;
  }

  /** Everything queued as one body, and the queue emptied. */
  take(): { body: Buffer; rows: number } {
    if (this.#at > 0) this.#chunks.push(this.#current.subarray(0, this.#at));
    const body = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#bytes);
    const rows = this.#rows;
    this.#chunks = [];
    this.#next = Math.min(MAX_CHUNK, Math.max(CHUNK, Math.ceil(this.#bytes * 1.25)));
    // The rest of the current buffer holds the next rows if a batch like this one fits in it
    // (body does not overlap it) and it is not far larger (a quiet time would keep it alive);
    // if not, the next rows start a buffer of their own.
    const room = this.#current.length - this.#at;
    this.#current = room >= this.#next && room <= 4 * this.#next ? this.#current.subarray(this.#at) : Buffer.allocUnsafe(0);
    this.#at = 0;
    this.#rows = 0;
    this.#bytes = 0;
    return { body, rows };
  }
}
