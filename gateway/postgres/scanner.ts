// Finds message boundaries in a relayed byte stream without copying it: the relay writes
// each chunk on as it came, and the scanner reports each message's type, and its body for
// the types the caller asks about. A body split across chunks is the only thing copied.
import { PgGatewayError } from "./errors.js";

export type OnMessage = (type: number, body: Buffer | null, length: number) => void;

export class FrameScanner {
  private readonly header = Buffer.alloc(5);
  private headerHave = 0;
  /** Body bytes of the current message still to come. */
  private remaining = 0;
  private type = 0;
  private length = 0;
  private body: Buffer | null = null;
  private bodyHave = 0;

  /**
   * @param wants which message types' bodies to hand over (indexed by type byte)
   * @param maxBody bodies larger than this are reported with a null body
   * @param maxMessage larger messages are a protocol error
   */
  constructor(
    private readonly wants: Uint8Array,
    private readonly onMessage: OnMessage,
    private readonly maxBody: number,
    private readonly maxMessage: number,
    private readonly peer: string,
  ) {}

  /** True when the bytes seen so far end exactly at a message boundary. */
  get atBoundary(): boolean {
    return this.headerHave === 0 && this.remaining === 0;
  }

  scan(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        if (this.body) {
          chunk.copy(this.body, this.bodyHave, i, i + take);
          this.bodyHave += take;
        }
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.finish(this.body);
        continue;
      }
      // Fast path: a whole header in this chunk.
      let length: number;
      if (this.headerHave === 0 && n - i >= 5) {
        this.type = chunk[i] as number;
        length = chunk.readInt32BE(i + 1);
        i += 5;
      } else {
        const take = Math.min(5 - this.headerHave, n - i);
        chunk.copy(this.header, this.headerHave, i, i + take);
        this.headerHave += take;
        i += take;
        if (this.headerHave < 5) return;
        this.headerHave = 0;
        this.type = this.header[0] as number;
        length = this.header.readInt32BE(1);
      }
      if (length < 4 || length > this.maxMessage) {
        throw new PgGatewayError(length < 4 ? "PG_PROTOCOL" : "PG_TOO_LARGE", "08P01", `invalid message from the ${this.peer}: type ${JSON.stringify(String.fromCharCode(this.type))} with length ${length}${length > this.maxMessage ? ` (the limit is ${this.maxMessage})` : ""}`);
      }
      this.length = length;
      const bodyLength = length - 4;
      const want = this.wants[this.type] === 1 && bodyLength <= this.maxBody;
      if (n - i >= bodyLength) {
        // The whole body is here: hand over a view, no copy.
        const body = want ? chunk.subarray(i, i + bodyLength) : null;
        i += bodyLength;
        this.onMessage(this.type, body, length);
        continue;
      }
      this.remaining = bodyLength;
      this.body = want ? Buffer.allocUnsafe(bodyLength) : null;
      this.bodyHave = 0;
    }
  }

  private finish(body: Buffer | null): void {
    this.body = null;
    this.onMessage(this.type, body, this.length);
  }
}

/** A lookup table of message types for FrameScanner. */
export function typeSet(types: string): Uint8Array {
  const set = new Uint8Array(256);
  for (const t of types) set[t.charCodeAt(0)] = 1;
  return set;
}
