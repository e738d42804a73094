// Verification names what was done to a stored session: a modified row, a deleted row or
// chunk, an inserted row, chunks put out of order, a forged or re-signed final digest.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkHash, genesis } from "../recorder/chain.js";
import { clickHouseSink, createRecorder, ed25519Signer, ed25519Verifier, RecordingReader, type BatchPart, type Recorder } from "../recorder/index.js";
import { chunkLine, eventLineV1, field, sessionLine, type EventRowV1 } from "../recorder/tables.js";
import { closeEmbedded, embedded, freshDatabase, keptLogger, sessionStart, tempDir, tickingClock } from "./recorder-kit.js";

const keys = generateKeyPairSync("ed25519");
const database = freshDatabase();
let recorder: Recorder;
let reader: RecordingReader;

beforeAll(async () => {
  const { ch } = await embedded();
  const signer = ed25519Signer(keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  // Chunks of 8 events: event n is in chunk floor(n / 8).
  recorder = await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir(), signer, chain: { events: 8 } });
  reader = new RecordingReader({ client: ch.client, database, recorder, verifier: ed25519Verifier([keys.publicKey]) });
});

afterAll(async () => {
  await recorder.close();
  await closeEmbedded();
});

/** A sealed session of 48 events (start, 46 statements, end): chunks 0..5, all visible. */
async function recorded(): Promise<string> {
  const s = sessionStart({ protocol: "postgres" });
  const rec = recorder.open(s);
  for (let i = 1; i <= 46; i++) rec.sql({ text: `UPDATE accounts SET balance = balance + ${i} WHERE id = ${i}`, params: null, durationMs: 1, tag: "UPDATE 1", rows: 1, sqlstate: null, error: null, stage: null });
  await rec.end("client closed");
  // end() returns once the inserts have returned; the embedded engine can take a moment more
  // before every part is visible to the next query, and the tampering below reads them.
  const { ch } = await embedded();
  for (let waited = 0; ; waited += 20) {
    const rs = await ch.client.query({
      query: `SELECT (SELECT count() FROM ${database}.chunks WHERE session_id = {sid:String}) AS c, (SELECT count() FROM ${database}.events WHERE session_id = {sid:String}) AS e`,
      query_params: { sid: s.sessionId }, format: "JSONEachRow",
    });
    const [seen] = (await rs.json()) as { c: unknown; e: unknown }[];
    if (Number(seen?.c) === 6 && Number(seen?.e) === 48) break;
    if (waited > 10_000) throw new Error(`the session's 6 chunk rows and 48 events are not all visible 10 s after its end`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return s.sessionId;
}

async function sql(query: string, params: Record<string, unknown>): Promise<void> {
  const { ch } = await embedded();
  await ch.client.command({ query, query_params: params, clickhouse_settings: { mutations_sync: "2" } });
}

const EVENT_COLUMNS = "session_id, seq, ts_ms, kind, channel, offset, b64, meta, chunk, v, start_ms";
const EVENT_VALUES = "session_id, seq, toUnixTimestamp64Milli(ts), kind, channel, offset, base64Encode(data), meta, chunk, v, toUnixTimestamp64Milli(started_at)";

describe("recording verification", () => {
  it("finds an untouched session intact, sealed and validly signed", async () => {
    const id = await recorded();
    expect(await reader.verify(id)).toMatchObject({ ok: true, sealed: true, chunks: 6, events: 48, unchainedEvents: 0, signature: "valid", problem: null });
  });

  it("names the chunk of a row changed in place", async () => {
    const id = await recorded();
    await sql(`ALTER TABLE ${database}.events UPDATE meta = replaceOne(meta, 'balance + 20', 'balance + 20000') WHERE session_id = {sid:String} AND seq = 20`, { sid: id });
    expect((await reader.verify(id)).problem).toMatchObject({ kind: "modified", chunk: 2 });
    expect((await reader.verify(id)).ok).toBe(false);
  });

  it("names a deleted row and the chunk it was in", async () => {
    const id = await recorded();
    await sql(`ALTER TABLE ${database}.events DELETE WHERE session_id = {sid:String} AND seq = 13`, { sid: id });
    expect((await reader.verify(id)).problem).toMatchObject({ kind: "missing", chunk: 1, seq: 13 });
  });

  it("names a row inserted beside a real one", async () => {
    const id = await recorded();
    await sql(
      `INSERT INTO ${database}.events (${EVENT_COLUMNS}) SELECT session_id, seq, toUnixTimestamp64Milli(ts), kind, channel, offset, base64Encode(data),
       replaceOne(meta, 'UPDATE', 'DELETE'), chunk, v, toUnixTimestamp64Milli(started_at) FROM ${database}.events WHERE session_id = {sid:String} AND seq = 30`,
      { sid: id },
    );
    expect((await reader.verify(id)).problem).toMatchObject({ kind: "inserted", chunk: 3, seq: 30 });
  });

  it("names a row added after the sealed end", async () => {
    const id = await recorded();
    await sql(
      `INSERT INTO ${database}.events (${EVENT_COLUMNS}) SELECT session_id, seq + 1, toUnixTimestamp64Milli(ts), 'sql', channel, offset, base64Encode(data), '{}', chunk, v,
       toUnixTimestamp64Milli(started_at) FROM ${database}.events WHERE session_id = {sid:String} AND seq = 47`,
      { sid: id },
    );
    expect((await reader.verify(id)).problem).toMatchObject({ kind: "inserted", seq: 48 });
  });

  it("names a deleted chunk", async () => {
    const id = await recorded();
    await sql(`ALTER TABLE ${database}.events DELETE WHERE session_id = {sid:String} AND seq BETWEEN 24 AND 31`, { sid: id });
    await sql(`ALTER TABLE ${database}.chunks DELETE WHERE session_id = {sid:String} AND chunk = 3`, { sid: id });
    expect((await reader.verify(id)).problem).toMatchObject({ kind: "missing", chunk: 3 });
  });

  it("names the last chunks cut off, digest and all", async () => {
    const id = await recorded();
    await sql(`ALTER TABLE ${database}.events DELETE WHERE session_id = {sid:String} AND seq >= 40`, { sid: id });
    await sql(`ALTER TABLE ${database}.chunks DELETE WHERE session_id = {sid:String} AND chunk = 5`, { sid: id });
    expect((await reader.verify(id)).problem).toMatchObject({ kind: "truncated", chunk: 5 });
  });

  it("names chunks swapped in place", async () => {
    const id = await recorded();
    // Chunks 2 and 3 trade places: their events are renumbered into each other's seqs.
    await sql(`CREATE TABLE ${database}.swap ENGINE = Memory AS SELECT *, if(seq < 24, seq + 8, seq - 8) AS new_seq FROM ${database}.events WHERE session_id = {sid:String} AND seq BETWEEN 16 AND 31`, { sid: id });
    await sql(`ALTER TABLE ${database}.events DELETE WHERE session_id = {sid:String} AND seq BETWEEN 16 AND 31`, { sid: id });
    await sql(`INSERT INTO ${database}.events (${EVENT_COLUMNS}) SELECT ${EVENT_VALUES.replace(", seq,", ", new_seq,")} FROM ${database}.swap`, {});
    await sql(`DROP TABLE ${database}.swap`, {});
    expect((await reader.verify(id)).problem).toMatchObject({ kind: "reordered", chunk: 2 });
  });

  it("names chunk records put out of order", async () => {
    const id = await recorded();
    // chunk is part of the sorting key: the rows are moved by reinserting them.
    await sql(`CREATE TABLE ${database}.swapc ENGINE = Memory AS SELECT *, if(chunk = 1, 4, 1) AS new_chunk FROM ${database}.chunks WHERE session_id = {sid:String} AND chunk IN (1, 4)`, { sid: id });
    await sql(`ALTER TABLE ${database}.chunks DELETE WHERE session_id = {sid:String} AND chunk IN (1, 4)`, { sid: id });
    await sql(`INSERT INTO ${database}.chunks (session_id, chunk, first_seq, last_seq, events, prev, hash, ts_ms, start_ms)
               SELECT session_id, new_chunk, first_seq, last_seq, events, prev, hash, toUnixTimestamp64Milli(ts), toUnixTimestamp64Milli(started_at) FROM ${database}.swapc`, {});
    await sql(`DROP TABLE ${database}.swapc`, {});
    expect((await reader.verify(id)).problem).toMatchObject({ kind: "reordered", chunk: 1 });
  });

  it("tells a forged digest and a digest signed by another key", async () => {
    const forged = await recorded();
    await sql(`ALTER TABLE ${database}.sessions UPDATE digest = repeat('0', 64) WHERE session_id = {sid:String}`, { sid: forged });
    expect((await reader.verify(forged)).problem).toMatchObject({ kind: "modified", chunk: null });

    const resigned = await recorded();
    const other = generateKeyPairSync("ed25519");
    const otherSigner = ed25519Signer(other.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    const mine = ed25519Signer(keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    await sql(`ALTER TABLE ${database}.sessions UPDATE signature = {sig:String} WHERE session_id = {sid:String}`, { sid: resigned, sig: otherSigner.sign(Buffer.from("x")).toString("base64") });
    expect(await reader.verify(resigned)).toMatchObject({ ok: false, signature: "invalid", keyId: mine.keyId });

    const unknown = await recorded();
    await sql(`ALTER TABLE ${database}.sessions UPDATE key_id = {kid:String} WHERE session_id = {sid:String}`, { sid: unknown, kid: otherSigner.keyId });
    expect(await reader.verify(unknown)).toMatchObject({ signature: "unknown-key", problem: null });
  });

  it("checks a live session's closed chunks and counts its open tail", async () => {
    const s = sessionStart({ protocol: "postgres" });
    const rec = recorder.open(s);
    for (let i = 0; i < 20; i++) rec.sql({ text: `SELECT ${i}`, params: null, durationMs: 1, tag: "SELECT 1", rows: 1, sqlstate: null, error: null, stage: null });
    await recorder.flush();
    expect(await reader.verify(s.sessionId)).toMatchObject({ ok: true, live: true, sealed: false, chunks: 2, events: 16, unchainedEvents: 5 });
    await rec.end("done");
    expect(await reader.verify(s.sessionId)).toMatchObject({ ok: true, live: false, sealed: true, events: 22 });
  });
});

describe("recording verification across batches", () => {
  it("finds a session intact whose chunk spans batches stored while it was open, their buffers reused for its next rows", async () => {
    const { ch } = await embedded();
    const db = freshDatabase();
    // A batch every 4 rows and one chunk for the whole session: the chunk's rows are still to
    // be hashed when their batch is stored and its buffer takes the next rows.
    const small = await createRecorder({
      client: ch.client, database: db, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir(), now: tickingClock(), chain: { events: 1_000 }, limits: { batchRows: 4, flushMs: 5 },
    });
    try {
      const s = sessionStart();
      const rec = small.open(s);
      rec.channelOpen({ channel: 0, type: "exec", pty: null, command: "cat" });
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 3; i++) rec.output(0, Buffer.from(`round ${round} line ${i} ${"#".repeat(40 * (round + i))}\n`));
        await small.flush();
      }
      await rec.end("client closed");
      const smallReader = new RecordingReader({ client: ch.client, database: db, recorder: small, verifier: null });
      expect(await smallReader.verify(s.sessionId)).toMatchObject({ ok: true, sealed: true, chunks: 1, problem: null });
    } finally {
      await small.close();
    }
  });

  it("verifies a session recorded by an earlier gateway, its event rows TabSeparated with their bytes in base64", async () => {
    const { ch } = await embedded();
    const sessionId = randomUUID();
    const startedAt = Date.now() - 60_000;
    const sid = field(sessionId);
    const rows: EventRowV1[] = [
      { seq: 0, ts: startedAt, kind: "start", channel: 0, offset: 0, b64: "", meta: '{"protocol":"ssh"}', chunk: 0, v: 1, startedAt },
      { seq: 1, ts: startedAt + 5, kind: "output", channel: 0, offset: 0, b64: Buffer.from("a\tb\\c\n").toString("base64"), meta: "", chunk: 0, v: 1, startedAt },
      { seq: 2, ts: startedAt + 9, kind: "end", channel: 0, offset: 0, b64: "", meta: '{"reason":"done \\o/"}', chunk: 0, v: 1, startedAt },
    ];
    const lines = rows.map((r) => `${eventLineV1(sid, r)}\n`);
    const hash = chunkHash(genesis(sessionId), lines.map((l) => Buffer.from(l)));
    const part = (table: BatchPart["table"], body: string): BatchPart => ({ table, format: "TabSeparated", token: `v1-${table}-${sessionId}`, rows: body.split("\n").length - 1, body: Buffer.from(body) });
    const sink = clickHouseSink({ client: ch.client, database, localDir: tempDir() });
    await sink.insert(part("events", lines.join("")));
    await sink.insert(part("chunks", `${chunkLine(sid, { chunk: 0, firstSeq: 0, lastSeq: 2, events: 3, prev: genesis(sessionId), hash, ts: startedAt + 9, startedAt })}\n`));
    await sink.insert(part("sessions", `${sessionLine({
      sessionId, version: 1, startedAt, endedAt: startedAt + 9, protocol: "ssh", grantId: "g", userId: "u", userName: "alice", targetId: "t", targetName: "web-1",
      login: "root", clientAddress: "127.0.0.1:1", node: "n", redactParameters: false, endReason: "done", events: 3, chunks: 1, bytesOut: 6, bytesIn: 0,
      digest: hash, keyId: "", signature: "", v: 1,
    })}\n`));
    expect(await reader.verify(sessionId)).toMatchObject({ ok: true, sealed: true, chunks: 1, events: 3, problem: null });
  });
});
