// The relay over real loopback sockets: a test client on one side, a test "server" on the
// other, and a recording that reports its buffer over the high-water mark on demand.
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { SessionRecording, SqlStatement } from "../../recorder/index.js";
import { Relay } from "./relay.js";
import { message, readyForQuery } from "./wire.js";

const query = (text: string) => message("Q", Buffer.from(`${text}\0`));
const complete = (tag: string) => message("C", Buffer.from(`${tag}\0`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const servers: Server[] = [];
const sockets: Socket[] = [];

/** A connected loopback pair: [the connecting end, the accepted end]. */
async function pair(): Promise<[Socket, Socket]> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<Socket>((r) => server.once("connection", r));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  const near = connect(address.port, "127.0.0.1");
  await new Promise<void>((r, j) => near.once("connect", r).once("error", j));
  const far = await accepted;
  sockets.push(near, far);
  return [near, far];
}

/** A recording that is over its high water while `full`, until the test releases it. */
class FakeRecording implements SessionRecording {
  readonly sessionId = "s1";
  readonly statements: SqlStatement[] = [];
  full = false;
  waits = 0;
  private gates: { resolve: () => void; reject: (e: Error) => void }[] = [];
  channelOpen(): void {}
  output(): boolean { return true; }
  input(): boolean { return true; }
  resize(): void {}
  channelClose(): void {}
  sftp(): void {}
  http(): boolean { return true; }
  end(): Promise<void> { return Promise.resolve(); }
  sql(s: SqlStatement): boolean {
    this.statements.push(s);
    return !this.full;
  }
  waitWritable(): Promise<void> {
    this.waits++;
    return new Promise((resolve, reject) => this.gates.push({ resolve, reject }));
  }
  /** Below the low-water mark again (or, with `fail`, a wait that rejects). */
  release(fail = false): void {
    this.full = false;
    for (const g of this.gates.splice(0)) {
      if (fail) g.reject(new Error("recorder gone"));
      else g.resolve();
    }
  }
}

/** appClient ↔ relay ↔ server, with everything the server receives collected. */
async function setup() {
  const [appClient, gwClient] = await pair();
  const [gwUpstream, server] = await pair();
  const recording = new FakeRecording();
  const received: Buffer[] = [];
  let receivedBytes = 0;
  server.on("data", (d: Buffer) => {
    received.push(d);
    receivedBytes += d.length;
  });
  const atClient: Buffer[] = [];
  appClient.on("data", (d: Buffer) => atClient.push(d));
  const ended: string[] = [];
  const relay = new Relay({
    client: gwClient,
    upstream: gwUpstream,
    clientRest: Buffer.alloc(0),
    upstreamRest: Buffer.alloc(0),
    recording,
    readOnly: false,
    maxMessage: 1 << 20,
    cancel: () => undefined,
    onEnd: (reason) => ended.push(reason),
    onRefused: (reason) => ended.push(`refused: ${reason}`),
  });
  relay.start();
  return {
    appClient, gwClient, gwUpstream, server, recording, relay, ended,
    received: () => Buffer.concat(received),
    receivedBytes: () => receivedBytes,
    atClient: () => Buffer.concat(atClient),
  };
}

/** Runs SELECT 1 through the relay while the recorder is full, so recording it holds the client. */
async function holdByRecorder(t: Awaited<ReturnType<typeof setup>>): Promise<void> {
  t.recording.full = true;
  const q = query("SELECT 1");
  t.appClient.write(q);
  await until("the query upstream", () => t.receivedBytes() === q.length);
  const answer = Buffer.concat([complete("SELECT 1"), readyForQuery("I")]);
  t.server.write(answer);
  await until("the answer at the client", () => t.atClient().length === answer.length);
  expect(t.recording.statements.map((s) => s.tag)).toEqual(["SELECT 1"]);
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe("Relay backpressure from the recorder", () => {
  it("stops reading the client while the recorder is over its high water, then relays what waited, in order", async () => {
    const t = await setup();
    await holdByRecorder(t);
    expect(t.gwClient.isPaused()).toBe(true);
    expect(t.recording.waits).toBe(1);

    const later = Buffer.concat([query("SELECT 2"), query("SELECT 3"), message("d", Buffer.alloc(50_000, 7))]);
    t.appClient.write(later);
    await sleep(150);
    expect(t.receivedBytes()).toBe(query("SELECT 1").length);
    expect(t.gwClient.isPaused()).toBe(true);

    t.recording.release();
    await until("the held bytes upstream", () => t.receivedBytes() === query("SELECT 1").length + later.length);
    expect(t.received().equals(Buffer.concat([query("SELECT 1"), later]))).toBe(true);
    expect(t.gwClient.isPaused()).toBe(false);
    expect(t.ended).toEqual([]);
  });

  it("asks the recorder once however many statements complete while the client is held", async () => {
    const t = await setup();
    t.recording.full = true;
    t.appClient.write(query("SELECT 1; SELECT 2; SELECT 3"));
    await until("the query upstream", () => t.receivedBytes() > 0);
    t.server.write(Buffer.concat([complete("SELECT 1"), complete("SELECT 1"), complete("SELECT 1"), readyForQuery("I")]));
    await until("three statements recorded", () => t.recording.statements.length === 3);
    expect(t.recording.statements.map((s) => s.text)).toEqual(["SELECT 1", "SELECT 2", "SELECT 3"]);
    expect(t.recording.waits).toBe(1);
    expect(t.gwClient.isPaused()).toBe(true);
    t.recording.release();
    await until("the client read again", () => !t.gwClient.isPaused());
  });

  it("lets the client go when waiting for the recorder fails", async () => {
    const t = await setup();
    await holdByRecorder(t);
    expect(t.gwClient.isPaused()).toBe(true);
    t.recording.release(true);
    const q = query("SELECT 2");
    t.appClient.write(q);
    await until("the next query upstream", () => t.receivedBytes() === query("SELECT 1").length + q.length);
    expect(t.ended).toEqual([]);
  });

  it("keeps the client paused after a cut, even once the recorder is writable", async () => {
    const t = await setup();
    await holdByRecorder(t);
    t.relay.cut("the grant ended");
    t.recording.release();
    await sleep(20);
    expect(t.gwClient.isPaused()).toBe(true);
  });

  for (const first of ["the target's socket", "the recorder"] as const) {
    it(`keeps the client paused until both the target's socket drained and the recorder is writable (${first} first)`, async () => {
      const t = await setup();
      // A corked socket keeps what the relay writes in its own buffer: write() reports it
      // full, as for a target that stopped reading, and uncork() flushes it and emits 'drain'.
      t.gwUpstream.cork();
      const before = Buffer.concat([query("SELECT 1"), message("d", Buffer.alloc(64 * 1024, 1))]);
      t.appClient.write(before);
      await until("the client held for the target", () => t.gwClient.isPaused());
      expect(t.gwUpstream.writableNeedDrain).toBe(true);
      // Bytes that can only move once the client is read again.
      const after = Buffer.concat([message("d", Buffer.alloc(10_000, 2)), query("SELECT 2")]);
      t.appClient.write(after);

      // The target answers: recording the statement finds the recorder full.
      t.recording.full = true;
      t.server.write(Buffer.concat([complete("SELECT 1"), readyForQuery("I")]));
      await until("the statement recorded", () => t.recording.statements.length === 1);
      expect(t.recording.waits).toBe(1);

      if (first === "the recorder") t.recording.release();
      else {
        t.gwUpstream.uncork();
        await until("the relay's writes at the target", () => t.gwUpstream.writableLength === 0 && t.receivedBytes() === t.gwUpstream.bytesWritten);
      }
      const took = t.receivedBytes();
      await sleep(150);
      expect(t.gwClient.isPaused()).toBe(true);
      expect(t.receivedBytes()).toBe(took);

      if (first === "the recorder") t.gwUpstream.uncork();
      else t.recording.release();
      const all = Buffer.concat([before, after]);
      await until("everything at the target", () => t.receivedBytes() === all.length);
      expect(t.received().equals(all)).toBe(true);
      expect(t.gwClient.isPaused()).toBe(false);
      expect(t.ended).toEqual([]);
    });
  }
});
