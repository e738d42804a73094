// Ingest under trouble: ClickHouse down for a while (nothing lost, nothing twice, sessions
// never blocked), a restart with batches still in the spool, a torn spool tail, a batch
// ClickHouse refuses, backpressure toward the engines, and a huge burst.
import { appendFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { clickHouseSink, createRecorder, ed25519Signer, ed25519Verifier, RecorderError, RecordingReader, type BatchPart, type RecordSink } from "../recorder/index.js";
import { closeEmbedded, count, embedded, freshDatabase, keptLogger, sessionStart, SwitchableSink, tempDir, tickingClock } from "./recorder-kit.js";

afterAll(closeEmbedded);

const text = (s: string) => new Uint8Array(Buffer.from(s));
const tick = () => new Promise((r) => setImmediate(r));

async function rowsOf(database: string, sessionId: string) {
  const { ch } = await embedded();
  const p = { sid: sessionId };
  return {
    events: await count(ch, `SELECT count() FROM ${database}.events WHERE session_id = {sid:String}`, p),
    distinct: await count(ch, `SELECT uniqExact(seq) FROM ${database}.events WHERE session_id = {sid:String}`, p),
    chunks: await count(ch, `SELECT count() FROM ${database}.chunks WHERE session_id = {sid:String}`, p),
    sessions: await count(ch, `SELECT count() FROM ${database}.sessions FINAL WHERE session_id = {sid:String}`, p),
    ended: await count(ch, `SELECT countIf(isNotNull(ended_at)) FROM ${database}.sessions FINAL WHERE session_id = {sid:String}`, p),
  };
}

/** Writes `n` output events, a few at a time between turns of the event loop; returns how many calls asked the engine to pause. */
async function typeAway(rec: ReturnType<Awaited<ReturnType<typeof createRecorder>>["open"]>, n: number): Promise<number> {
  let paused = 0;
  for (let i = 0; i < n; i++) {
    if (!rec.output(0, text(`line ${i} of output\r\n`))) paused++;
    if (i % 7 === 0 && !rec.input(0, text("x"))) paused++;
    if (i % 50 === 0) await tick();
  }
  return paused;
}

describe("recorder ingest under trouble", () => {
  it("loses and duplicates nothing through an outage, and never throws into or blocks a session", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    const sink = SwitchableSink.over(ch, database);
    const logger = keptLogger();
    const recorder = await createRecorder({ client: ch.client, database, logger, spoolDir: tempDir(), localInsertDir: tempDir(), sink, limits: { flushMs: 20, batchRows: 500, retryMinMs: 20, retryMaxMs: 100 }, chain: { events: 64 }, now: tickingClock() });
    const reader = new RecordingReader({ client: ch.client, database });

    const starts = Array.from({ length: 8 }, () => sessionStart());
    const recs = starts.map((s) => recorder.open(s));
    recs.forEach((r) => r.channelOpen({ channel: 0, type: "exec", pty: null, command: "yes" }));
    await Promise.all(recs.map((r) => typeAway(r, 300)));
    await recorder.flush();
    sink.down = true;
    // ClickHouse goes away mid-session: the sessions keep writing and some end meanwhile.
    const during = await Promise.all(recs.map((r) => typeAway(r, 700)));
    await Promise.all(recs.slice(0, 4).map((r) => r.end("client disconnected")));
    await recorder.flush();
    expect(sink.failures).toBeGreaterThan(0);
    expect(recorder.stats().spooledBatches).toBeGreaterThan(0);
    // The spool takes what ClickHouse cannot: the sessions were never asked to pause, and ended.
    expect(during).toEqual(recs.map(() => 0));
    expect(logger.lines.filter((l) => l.message.includes("unavailable"))).toHaveLength(1);

    sink.down = false;
    await Promise.all(recs.slice(4).map((r) => typeAway(r, 100)));
    await Promise.all(recs.slice(4).map((r) => r.end("grant expired")));
    await recorder.drained();
    expect(recorder.stats().spooledBatches).toBe(0);
    expect(logger.lines.filter((l) => l.message.includes("the spool is drained"))).toHaveLength(1);

    for (const [i, s] of starts.entries()) {
      const written = 1 + 1 + (i < 4 ? 1000 + 143 : 1100 + 158) + 1; // start, channel_open, output and input, end
      expect(await rowsOf(database, s.sessionId)).toMatchObject({ events: written, distinct: written, sessions: 1, ended: 1 });
      expect(await reader.verify(s.sessionId)).toMatchObject({ ok: true, sealed: true, events: written, problem: null });
    }
    await recorder.close();
  });

  it("does not store a batch twice when ClickHouse stored it but the answer was lost", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    const real = clickHouseSink({ client: ch.client, database, localDir: tempDir() });
    let lose = 3;
    const sink: RecordSink = {
      async insert(part) {
        await real.insert(part);
        if (lose-- > 0) throw new Error("socket hang up");
      },
    };
    const recorder = await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir(), sink, limits: { flushMs: 10, retryMinMs: 10 }, now: tickingClock() });
    const s = sessionStart();
    const rec = recorder.open(s);
    for (let i = 0; i < 100; i++) rec.output(0, text(`row ${i}\n`));
    await rec.end("done");
    await recorder.drained();
    expect(await rowsOf(database, s.sessionId)).toMatchObject({ events: 102, distinct: 102, sessions: 1, ended: 1 });
    await recorder.close();
  });

  it("keeps the spool across a restart and drains it when ClickHouse is back", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    const spoolDir = tempDir();
    const down = SwitchableSink.over(ch, database);
    down.down = true;
    const first = await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir, sink: down, limits: { flushMs: 10 }, now: tickingClock() });
    const s = sessionStart();
    const rec = first.open(s);
    rec.channelOpen({ channel: 0, type: "shell", pty: { term: "xterm", cols: 80, rows: 24 }, command: null });
    await typeAway(rec, 500);
    await first.close(); // ends the session ("gateway stopped") and leaves everything in the spool
    expect(await rowsOf(database, s.sessionId)).toMatchObject({ events: 0 });
    const segments = readdirSync(spoolDir).filter((f) => f.endsWith(".spool"));
    expect(segments.length).toBeGreaterThan(0);
    // A crash during the last write leaves half a record: it is cut off, the rest is kept.
    appendFileSync(join(spoolDir, segments.sort().at(-1)!), Buffer.from([0x4a, 0x47, 0x53, 0x31, 0, 0, 0x10, 0]));

    const logger = keptLogger();
    const second = await createRecorder({ client: ch.client, database, logger, spoolDir, sink: SwitchableSink.over(ch, database) });
    await second.drained();
    expect(logger.lines.filter((l) => l.message.includes("damaged or incomplete"))).toHaveLength(1);
    const written = 2 + 500 + 72 + 1;
    expect(await rowsOf(database, s.sessionId)).toMatchObject({ events: written, distinct: written, sessions: 1, ended: 1 });
    const reader = new RecordingReader({ client: ch.client, database });
    expect(await reader.get(s.sessionId)).toMatchObject({ endReason: "gateway stopped", live: false });
    expect((await reader.verify(s.sessionId)).ok).toBe(true);
    expect(readdirSync(spoolDir).filter((f) => f.endsWith(".spool"))).toEqual([]);
    await second.close();
  });

  it("ends and seals, at the next start, a session an earlier run never ended", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    const keys = generateKeyPairSync("ed25519");
    const signer = ed25519Signer(keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    const crashing = SwitchableSink.over(ch, database);
    const first = await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir(), sink: crashing, signer, chain: { events: 10 }, now: tickingClock() });
    const s = sessionStart();
    const rec = first.open(s);
    rec.channelOpen({ channel: 0, type: "exec", pty: null, command: "make deploy" });
    for (let i = 0; i < 25; i++) rec.output(0, text(`step ${i}\n`));
    await first.flush();
    crashing.down = true; // the process dies here: nothing more of it reaches ClickHouse

    const second = await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir(), signer, sealUnended: true });
    await second.recovered();
    await second.flush();
    const reader = new RecordingReader({ client: ch.client, database, verifier: ed25519Verifier([keys.publicKey]) });
    expect(await reader.get(s.sessionId)).toMatchObject({ live: false, sealed: true, endReason: expect.stringContaining("sealed at its next start"), bytesOut: 190 });
    expect(await reader.verify(s.sessionId)).toMatchObject({ ok: true, sealed: true, events: 27, chunks: 3, signature: "valid" });
    await second.close();
  });

  it("keeps every row ClickHouse accepts when it refuses a batch, and logs the cause once", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    const sink = SwitchableSink.over(ch, database);
    sink.refuse = (part: BatchPart) => part.table === "events" && part.body.includes("POISON");
    const logger = keptLogger();
    const recorder = await createRecorder({ client: ch.client, database, logger, spoolDir: tempDir(), localInsertDir: tempDir(), sink, limits: { flushMs: 10 } });
    const s = sessionStart({ protocol: "postgres" });
    const rec = recorder.open(s);
    for (let i = 0; i < 200; i++) {
      rec.sql({ text: i === 57 || i === 140 ? "SELECT 'POISON'" : `SELECT ${i}`, params: null, durationMs: 1, tag: "SELECT 1", rows: 1, sqlstate: null, error: null, stage: null });
    }
    await rec.end("done");
    await recorder.drained();
    expect(await rowsOf(database, s.sessionId)).toMatchObject({ events: 200, distinct: 200 });
    expect(recorder.stats().rowsDropped).toBe(2);
    expect(logger.lines.filter((l) => l.message.includes("refused"))).toHaveLength(1);
    const report = await new RecordingReader({ client: ch.client, database }).verify(s.sessionId);
    expect(report.problem).toMatchObject({ kind: "missing", seq: 58 });
    await recorder.close();
  });

  it("reports a batch ClickHouse itself refuses as refused, not as an outage", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir() }).then((r) => r.close());
    const sink = clickHouseSink({ client: ch.client, database, localDir: tempDir() });
    // A version 1 row with a bad number, and a RowBinary row cut short in its data.
    const cut = Buffer.from([1, 0x73, ...new Array<number>(16).fill(0), 6, ...Buffer.from("output"), 0, 0, 0, 0, ...new Array<number>(8).fill(0), 100, 1, 2]);
    const bad = [
      { format: "TabSeparated" as const, body: Buffer.from("s\tnot-a-number\t1\toutput\t0\t0\t\t\t0\t1\t1\n") },
      { format: "RowBinary" as const, body: cut },
    ];
    for (const { format, body } of bad) {
      const err = await sink.insert({ table: "events", format, token: `bad-${format}`, rows: 1, body }).catch((e: unknown) => e);
      expect(err, format).toBeInstanceOf(RecorderError);
      expect((err as RecorderError).code, format).toBe("BATCH_REFUSED");
      expect((err as RecorderError).message).not.toContain("not-a-number");
    }
    // chdb would take an inline body as text, and RowBinary rows with it: refused at once.
    expect(() => clickHouseSink({ client: ch.client, database })).toThrow(/give the sink a directory/);
  });

  it("leaves no insert token behind in the embedded engine's session for a later insert to be dropped by", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir() }).then((r) => r.close());
    const sink = clickHouseSink({ client: ch.client, database, localDir: tempDir() });
    const line = (seq: number) => Buffer.from(`s\t${seq}\t1\tstart\t0\t0\t\t{}\t0\t1\t${Date.now()}\n`);
    await sink.insert({ table: "events", format: "TabSeparated", token: "only-once", rows: 1, body: line(0) });
    await ch.client.command({ query: `INSERT INTO ${database}.events (session_id, seq, ts_ms, kind, channel, offset, meta, chunk, v, start_ms) VALUES ('s', 1, 1, 'start', 0, 0, '{}', 0, 1, ${Date.now()})` });
    await sink.insert({ table: "events", format: "TabSeparated", token: "only-once", rows: 1, body: line(2) });
    const rs = await ch.client.query({ query: `SELECT groupArray(seq) AS seqs FROM (SELECT seq FROM ${database}.events ORDER BY seq)`, format: "JSONEachRow" });
    // The plain insert is kept; the second part with the first one's token is the replay it claims to be.
    expect(((await rs.json()) as { seqs: unknown[] }[])[0]?.seqs.map(Number)).toEqual([0, 1]);
  });

  it("pushes back on the engine above the high-water mark and lets it go below the low one", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const real = clickHouseSink({ client: ch.client, database, localDir: tempDir() });
    const sink: RecordSink = { insert: async (p) => (await gate, real.insert(p)) };
    const recorder = await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir(), sink, limits: { highWaterBytes: 256 << 10, lowWaterBytes: 128 << 10, flushMs: 5 } });
    const rec = recorder.open(sessionStart());
    const chunk = new Uint8Array(8192).fill(65);
    let accepted = 0;
    while (rec.output(0, chunk)) accepted++;
    expect(accepted).toBeLessThan(40);
    let resumed = false;
    const waiting = rec.waitWritable().then(() => (resumed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(resumed).toBe(false);
    release();
    await waiting;
    expect(rec.output(0, chunk)).toBe(true);
    await rec.end("done");
    await recorder.close();
  });

  it("keeps odd input whole and logs a failing terminal renderer once, without reaching the session", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    const logger = keptLogger();
    const broken = () => ({
      output() {
        throw new Error("renderer exploded");
      },
      input() {},
      resize() {},
      take: () => ({ keyframes: [], text: [] }),
      takeError: () => null,
      snapshot: () => Promise.reject(new Error("no screen")),
      finish: () => Promise.resolve(),
      dispose() {},
    });
    const recorder = await createRecorder({ client: ch.client, database, logger, spoolDir: tempDir(), localInsertDir: tempDir(), terminal: broken as never, now: tickingClock() });
    const reader = new RecordingReader({ client: ch.client, database, recorder });
    const s = sessionStart({ protocol: "ssh", userName: "tab\tand\nnewline", targetName: "back\\slash" });
    const rec = recorder.open(s);
    rec.channelOpen({ channel: 0, type: "shell", pty: { term: "xterm", cols: -5, rows: 1e9 }, command: null });
    for (let i = 0; i < 50; i++) expect(rec.output(0, text(`out ${i}\r\n`))).toBe(true);
    rec.sftp({ channel: 3, op: "open", path: "/tmp/\ud800lone\tsurrogate\nname", status: "ok" });
    const seen: string[] = [];
    reader.watch(s.sessionId, (m) => seen.push(m.type));
    await rec.end("done");
    expect(logger.lines.filter((l) => l.message.includes("a fault while recording") && l.fields?.call === "output")).toHaveLength(1);
    expect(seen[0]).toBe("snapshot");
    const events = (await reader.events(s.sessionId, { limit: 1000 })).events;
    expect(events.filter((e) => e.kind === "output")).toHaveLength(50);
    // JSON keeps even a lone surrogate, escaped: the path comes back as the engine gave it.
    expect(events.find((e) => e.kind === "sftp")).toMatchObject({ sftp: { path: "/tmp/\ud800lone\tsurrogate\nname" } });
    expect(await reader.get(s.sessionId)).toMatchObject({ userName: "tab\tand\nnewline", targetName: "back\\slash" });
    expect((await reader.verify(s.sessionId)).ok).toBe(true);
    await recorder.close();
  });

  it("takes a huge burst in one call as rows of at most 64 KiB, all of it kept", async () => {
    const { ch } = await embedded();
    const database = freshDatabase();
    const recorder = await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir() });
    const s = sessionStart();
    const rec = recorder.open(s);
    rec.channelOpen({ channel: 0, type: "shell", pty: { term: "xterm", cols: 80, rows: 24 }, command: null });
    const burst = Buffer.alloc(20 << 20);
    for (let i = 0; i < burst.length; i++) burst[i] = (i % 97) + 10;
    rec.output(0, burst);
    const escapes = text("\x1b[999;999H\x1b[?1049h\x1b]0;title\x07\x1bP+q\x1b\\done");
    rec.output(0, escapes);
    rec.resize(0, 100000, 0);
    await rec.end("done");
    expect(await count(ch, `SELECT sum(length(data)) FROM ${database}.events WHERE session_id = {sid:String} AND kind = 'output'`, { sid: s.sessionId })).toBe(burst.length + escapes.length);
    expect(await count(ch, `SELECT max(length(data)) FROM ${database}.events WHERE session_id = {sid:String}`, { sid: s.sessionId })).toBe(64 * 1024);
    await recorder.close();
  });
});
