// Reads whole messages from a socket during the handshake phases (client startup and
// authentication, the upstream greeting), with limits on size and on how long a peer may
// stall. The relay takes over afterwards with the bytes left unread.
import type { Duplex } from "node:stream";
import { PgGatewayError, protocolError } from "./errors.js";

export interface ReaderLimits {
  /** Largest message accepted in this phase, length field included. */
  maxMessage: number;
  /** How long a read may wait for the peer. */
  timeoutMs: number;
  /** Who the peer is, for error messages: "client" or "server". */
  peer: string;
}

export class MessageReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: (() => void) | null = null;
  private ended: Error | null = null;
  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.have += chunk.length;
    this.wake();
  };
  private readonly onEnd = () => this.fail(new PgGatewayError("PG_CLOSED", "08006", `the ${this.limits.peer} closed the connection`));
  private readonly onError = (err: Error) => this.fail(new PgGatewayError("PG_CLOSED", "08006", `the ${this.limits.peer}'s connection failed: ${err.message}`, { cause: err }));

  constructor(
    private socket: Duplex,
    private readonly limits: ReaderLimits,
  ) {
    this.attach(socket);
  }

  private attach(socket: Duplex): void {
    this.socket = socket;
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onEnd);
    socket.on("error", this.onError);
  }

  /** Stops reading; returns bytes received but not yet read as messages. */
  detach(): Buffer {
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("close", this.onEnd);
    this.socket.off("error", this.onError);
    const rest = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.chunks = [];
    this.have = 0;
    return rest;
  }

  /** Moves to another socket (the TLS one wrapped around the first); unread bytes are an error. */
  switchTo(socket: Duplex): void {
    if (this.detach().length > 0) throw protocolError(`the ${this.limits.peer} sent data after the TLS request, before the TLS handshake`);
    this.attach(socket);
  }

  get buffered(): number {
    return this.have;
  }

  private fail(err: Error): void {
    this.ended ??= err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private async need(n: number): Promise<void> {
    if (this.have >= n) return;
    const deadline = Date.now() + this.limits.timeoutMs;
    while (this.have < n) {
      if (this.ended) throw this.ended;
      const left = deadline - Date.now();
      if (left <= 0) throw new PgGatewayError("PG_TIMEOUT", "08006", `the ${this.limits.peer} did not send a complete message within ${this.limits.timeoutMs} ms during the handshake`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private take(n: number): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    const all = this.chunks[0] as Buffer;
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.have -= n;
    return out;
  }

  private checkLength(length: number, min: number): void {
    if (length < min) throw protocolError(`invalid message length ${length} from the ${this.limits.peer}`);
    if (length > this.limits.maxMessage) {
      throw new PgGatewayError("PG_TOO_LARGE", "08P01", `a ${length}-byte message from the ${this.limits.peer} is over the limit of ${this.limits.maxMessage} bytes at this stage`);
    }
  }

  /** A startup-phase message (no type byte): its whole content after the length. */
  async untyped(): Promise<Buffer> {
    await this.need(4);
    const length = this.take(4).readInt32BE(0);
    this.checkLength(length, 8);
    await this.need(length - 4);
    return this.take(length - 4);
  }

  /** A typed message: its type character and body. */
  async typed(): Promise<{ type: string; body: Buffer }> {
    await this.need(5);
    const head = this.take(5);
    const length = head.readInt32BE(1);
    this.checkLength(length, 4);
    await this.need(length - 4);
    return { type: String.fromCharCode(head[0] ?? 0), body: this.take(length - 4) };
  }

  /** One byte (the answer to SSLRequest). */
  async byte(): Promise<number> {
    await this.need(1);
    return this.take(1)[0] ?? 0;
  }
}
