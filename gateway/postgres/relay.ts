// The hot path: bytes go on in the chunks they arrived in (one write per read, no copy),
// while scanners follow the message boundaries to record statements. A grant's end cuts
// the session: the running statement is cancelled on the target, the client gets FATAL
// 57P01 with the reason, and both connections close. The client is read only while both
// the target's socket and the recorder keep up.
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { SessionRecording, SqlStatement } from "../../recorder/index.js";
import { PgGatewayError } from "./errors.js";
import { ReadHolds } from "./holds.js";
import { leftReadOnly, readOnlyViolation } from "./read-only.js";
import { FrameScanner, typeSet } from "./scanner.js";
import { CLIENT_BODIES, SERVER_BODIES, StatementTracker } from "./statements.js";
import { errorResponse, message, readCString } from "./wire.js";

export type Conn = Socket | TLSSocket;

export interface RelayOptions {
  client: Conn;
  upstream: Conn;
  /** Bytes read past the handshake on either side. */
  clientRest: Buffer;
  upstreamRest: Buffer;
  recording: SessionRecording;
  readOnly: boolean;
  maxMessage: number;
  /** Cancels the statement running on the target. */
  cancel: () => void;
  /** Called once, when both sides are done. */
  onEnd: (reason: string) => void;
  /** Bad input from either side, for the log. */
  onRefused: (reason: string) => void;
}

const MAX_RECORDED_BODY = 1 << 20;
const CLIENT_WANTS = typeSet(CLIENT_BODIES);
const SERVER_WANTS = typeSet(SERVER_BODIES);
const Q = "Q".charCodeAt(0);
const P = "P".charCodeAt(0);
const S = "S".charCodeAt(0);
const X = "X".charCodeAt(0);
/** Why the client is not read: the target's socket has a full write buffer... */
const TARGET_FULL = 1;
/** ...or the recorder's buffer is above its high-water mark. */
const RECORDER_FULL = 2;

export class Relay {
  private readonly tracker: StatementTracker;
  private readonly fromClient: FrameScanner;
  private readonly fromServer: FrameScanner;
  private readonly clientHolds: ReadHolds;
  private ended = false;
  private cutting = false;
  private clientLeft = false;

  constructor(private readonly o: RelayOptions) {
    this.clientHolds = new ReadHolds(o.client);
    this.tracker = new StatementTracker((s) => this.record(s));
    this.fromClient = new FrameScanner(CLIENT_WANTS, (type, body) => this.clientMessage(type, body), MAX_RECORDED_BODY, o.maxMessage, "client");
    this.fromServer = new FrameScanner(SERVER_WANTS, (type, body) => this.serverMessage(type, body), MAX_RECORDED_BODY, 1 << 30, "server");
  }

  start(): void {
    const { client, upstream } = this.o;
    client.on("data", this.onClientData);
    upstream.on("data", this.onServerData);
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
    client.once("close", () => {
      this.clientLeft = true;
      // A client that vanished mid-statement leaves it running on the server otherwise.
      if (this.tracker.busy && !this.cutting) this.o.cancel();
      this.finish("client disconnected");
    });
    upstream.once("close", () => this.finish("the target closed the connection"));
    if (this.o.upstreamRest.length > 0) this.onServerData(this.o.upstreamRest);
    if (this.o.clientRest.length > 0) this.onClientData(this.o.clientRest);
  }

  private readonly onClientData = (chunk: Buffer): void => {
    try {
      this.fromClient.scan(chunk);
    } catch (err) {
      this.refuse(err);
      return;
    }
    if (this.cutting) return;
    if (!this.o.upstream.write(chunk) && this.clientHolds.hold(TARGET_FULL)) this.o.upstream.once("drain", this.targetDrained);
  };

  private readonly targetDrained = (): void => this.clientHolds.release(TARGET_FULL);
  private readonly recorderWritable = (): void => this.clientHolds.release(RECORDER_FULL);

  /** Records a statement; a recorder over its high water stops the client until it is writable again. */
  private record(s: SqlStatement): void {
    if (this.o.recording.sql(s) || !this.clientHolds.hold(RECORDER_FULL)) return;
    try {
      // A failed wait lets the client go rather than holding it for good.
      this.o.recording.waitWritable().then(this.recorderWritable, this.recorderWritable);
    } catch {
      this.recorderWritable();
    }
  }

  private readonly onServerData = (chunk: Buffer): void => {
    try {
      this.fromServer.scan(chunk);
    } catch (err) {
      this.refuse(err);
      return;
    }
    if (!this.o.client.write(chunk)) {
      this.o.upstream.pause();
      this.o.client.once("drain", () => this.o.upstream.resume());
    }
  };

  private clientMessage(type: number, body: Buffer | null): void {
    if (this.o.readOnly && (type === Q || type === P)) {
      const text = body ? (readCString(body, type === P ? (readCString(body, 0)?.next ?? 0) : 0)?.value ?? "") : "";
      const why = body ? readOnlyViolation(text) : "a statement too large to check is not allowed on a read-only grant";
      if (why) throw new PgGatewayError("PG_PROTOCOL", "25006", `jitgate: ${why}; the session is closed`);
    }
    if (type === X) this.clientLeft = true;
    this.tracker.fromClient(type, body);
  }

  private serverMessage(type: number, body: Buffer | null): void {
    if (type === S && body && this.o.readOnly) {
      const name = readCString(body, 0);
      const value = name ? readCString(body, name.next) : null;
      if (name && value && leftReadOnly(name.value, value.value)) {
        // Let this chunk's answer reach the client, then end before anything else runs.
        queueMicrotask(() => this.cut("jitgate: the session left read-only mode, which this grant does not allow; the session is closed", "25006"));
      }
    }
    this.tracker.fromServer(type, body);
  }

  /** Bad input from either side: tell the client (when the stream allows), close both. */
  private refuse(err: unknown): void {
    const e = err instanceof PgGatewayError ? err : new PgGatewayError("PG_PROTOCOL", "08P01", String(err));
    this.o.onRefused(e.message);
    this.cut(e.message, e.sqlstate);
  }

  /** Ends the session now: cancel what runs upstream, FATAL to the client, close both. */
  cut(reason: string, sqlstate = "57P01"): void {
    if (this.cutting || this.ended) return;
    this.cutting = true;
    this.clientHolds.stop();
    const { client, upstream } = this.o;
    upstream.off("data", this.onServerData);
    client.off("data", this.onClientData);
    if (this.tracker.busy) this.o.cancel();
    // An error in the middle of a relayed message would garble it: then just drop the line.
    if (!this.clientLeft && this.fromServer.atBoundary) {
      client.end(errorResponse({ severity: "FATAL", sqlstate, message: reason }));
    } else client.destroy();
    setTimeout(() => client.destroy(), 1_000).unref();
    upstream.end(message("X"));
    setTimeout(() => upstream.destroy(), 2_000).unref();
    this.finishReason = reason;
  }

  private finishReason: string | null = null;

  private finish(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.clientHolds.stop();
    const { client, upstream } = this.o;
    if (!this.cutting) {
      client.end();
      upstream.end(message("X"));
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, 2_000).unref();
    }
    this.o.onEnd(this.finishReason ?? why);
  }

  get transactionStatus(): string {
    return this.tracker.status;
  }
}
