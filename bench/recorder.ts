// The recorder's ingest rate: sessions writing terminal and SQL events through the real
// recorder (hash chain, terminal rendering of the pty sessions, batching, embedded
// ClickHouse) as fast as backpressure lets them, until every event is in ClickHouse. Against
// the direct path in the same run: the same number of event rows of the same shape inserted
// with bare ClickHouse inserts (the same transport, no recorder). Reports engine events (calls)
// and event rows per second (pieces of a stream given in one millisecond share a row), bytes
// per second, the p99 time of the engine-facing call, and a zero-loss check on what the rows
// hold: every terminal byte and statement, no gap in any session's seq, nothing twice.
//
// Then bulk output: one exec session (no pty) writing 32 KiB blocks, as ssh2 delivers `head -c`,
// in MiB per second until stored; and the same bytes stored with bare inserts, no recorder.
//
//   node dist/bench/recorder.js [--sessions N] [--seconds N] [--pty-share PERCENT] [--bulk-mb N]
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance, PerformanceObserver } from "node:perf_hooks";
import { jsonLogger } from "../gateway/logger.js";
import {
  clickHouseSink, createRecorder, DEFAULT_INGEST_LIMITS, migrate, openClickHouse, RECORDING_VERSION, type ClickHouseHandle, type SessionRecording,
} from "../recorder/index.js";
import { eventRowFixed, eventRowRoom, writeEventRow, type EventRowFixed } from "../recorder/tables.js";
import { fail, intOption, main, parseArgs, summarize } from "./common.js";
import { printGrid, printTable } from "./table.js";

const USAGE = `usage: node dist/bench/recorder.js [--sessions N] [--seconds N] [--pty-share PERCENT] [--bulk-mb N]

--sessions concurrent sessions (default 100) write for --seconds (default 10); --pty-share
percent of them (default 70) are SSH shells on a pty (keystrokes and screen output, rendered
by the terminal indexer), the rest PostgreSQL sessions (one event per statement). Then the
same number of rows goes into ClickHouse with bare inserts. Last, --bulk-mb MiB (default 128)
of exec output in 32 KiB blocks through one recording, and the same bytes with bare inserts.`;

const LINES = [
  "total 48\r\ndrwxr-xr-x  2 root root 4096 Jan  1 12:00 \x1b[01;34mbin\x1b[0m\r\n",
  "-rw-r--r--  1 root root  220 Jan  1 12:00 .bash_logout\r\n",
  "2026-01-01T12:00:00Z INFO  request handled path=/api/v1/orders status=200 duration=3ms\r\n",
  "root@web-1:~# ",
];
const STATEMENTS = [
  "SELECT id, name, balance FROM accounts WHERE id = $1",
  "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
  "INSERT INTO ledger (account_id, amount, note) VALUES ($1, $2, $3)",
];
const BURST = 32;

/** Milliseconds spent in garbage collection since the process started. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ["gc"] });

interface Load {
  events: number;
  sqlEvents: number;
  /** Payload: terminal bytes and SQL text. */
  bytes: number;
  /** Terminal bytes alone, to compare with what is stored. */
  terminalBytes: number;
  calls: Float64Array;
  callCount: number;
}

function record(load: Load, ms: number): void {
  if (load.callCount === load.calls.length) {
    const bigger = new Float64Array(load.calls.length * 2);
    bigger.set(load.calls);
    load.calls = bigger;
  }
  load.calls[load.callCount++] = ms;
}

async function shell(rec: SessionRecording, until: number, load: Load): Promise<void> {
  rec.channelOpen({ channel: 0, type: "shell", pty: { term: "xterm-256color", cols: 120, rows: 40 }, command: null });
  load.events += 1;
  const key = new Uint8Array([0x6c]);
  const lines = LINES.map((l) => new Uint8Array(Buffer.from(l)));
  for (let i = 0; performance.now() < until; ) {
    for (let b = 0; b < BURST; b++, i++) {
      const data = i % 4 === 0 ? key : (lines[i % lines.length] as Uint8Array);
      const t0 = performance.now();
      const writable = i % 4 === 0 ? rec.input(0, data) : rec.output(0, data);
      record(load, performance.now() - t0);
      load.events++;
      load.bytes += data.length;
      load.terminalBytes += data.length;
      if (!writable) await rec.waitWritable();
    }
    await new Promise((r) => setImmediate(r));
  }
  rec.channelClose(0, { code: 0, signal: null });
  load.events += 1;
}

async function sqlSession(rec: SessionRecording, until: number, load: Load): Promise<void> {
  for (let i = 0; performance.now() < until; ) {
    for (let b = 0; b < BURST; b++, i++) {
      const text = STATEMENTS[i % STATEMENTS.length] as string;
      const t0 = performance.now();
      const writable = rec.sql({ text, params: [String(i), "100", null], durationMs: 1, tag: "UPDATE 1", rows: 1, sqlstate: null, error: null, stage: null });
      record(load, performance.now() - t0);
      load.events++;
      load.sqlEvents++;
      load.bytes += text.length;
      if (!writable) await rec.waitWritable();
    }
    await new Promise((r) => setImmediate(r));
  }
}

async function recorderRun(ch: ClickHouseHandle, dir: string, sessions: number, seconds: number, ptyShare: number) {
  const database = "bench_recorder";
  const recorder = await createRecorder({
    client: ch.client, database, logger: jsonLogger("warn"), spoolDir: join(dir, "spool"), localInsertDir: join(dir, "ingest"),
  });
  const load: Load = { events: 0, sqlEvents: 0, bytes: 0, terminalBytes: 0, calls: new Float64Array(1 << 20), callCount: 0 };
  const cpu0 = process.cpuUsage();
  const gc0 = gcMs;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  const ptys = Math.round((sessions * ptyShare) / 100);
  await Promise.all(Array.from({ length: sessions }, async (_, i) => {
    const pty = i < ptys;
    const rec = recorder.open({
      sessionId: randomUUID(), protocol: pty ? "ssh" : "postgres", grantId: randomUUID(), userId: randomUUID(), userName: `bench-${i}`,
      targetId: randomUUID(), targetName: pty ? "web-1" : "billing-db", login: "ops", clientAddress: "127.0.0.1:1", node: "bench",
      startedAt: Date.now(), redactParameters: false,
    });
    load.events += 2; // start and end
    await (pty ? shell(rec, until, load) : sqlSession(rec, until, load));
    await rec.end("client disconnected");
  }));
  const written = performance.now() - t0;
  await recorder.drained();
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const gc = gcMs - gc0;
  const stats = recorder.stats();
  await recorder.close();
  // Pieces of one stream given in the same millisecond share a row: rows are fewer than events,
  // so the check is on what the rows hold.
  const stored = await count(ch, `SELECT count() FROM ${database}.events`);
  const distinct = await count(ch, `SELECT uniqExact(session_id, seq) FROM ${database}.events`);
  const gaps = await count(ch, `SELECT count() FROM (SELECT max(seq) + 1 AS n, count() AS c FROM ${database}.events GROUP BY session_id HAVING n != c)`);
  const terminalBytes = await count(ch, `SELECT sum(length(data)) FROM ${database}.events WHERE kind IN ('output', 'input')`);
  const statements = await count(ch, `SELECT count() FROM ${database}.events WHERE kind = 'sql'`);
  const ends = await count(ch, `SELECT count() FROM ${database}.events WHERE kind = 'end'`);
  const lossless = stored === distinct && gaps === 0 && terminalBytes === load.terminalBytes && statements === load.sqlEvents && ends === sessions && stats.rowsDropped === 0;
  const calls = summarize(Array.from(load.calls.subarray(0, load.callCount)));
  return { load, written, elapsed, stored, distinct, gaps, terminalBytes, statements, lossless, calls, cpuMs: (cpu.user + cpu.system) / 1000, gc };
}

/**
 * The same bulk output as bulkRun stored with bare inserts: 32 KiB event rows written into
 * batches of the recorder's size and inserted one after another, no recorder. What ClickHouse
 * alone costs to store a MiB here.
 */
async function bareBulkRun(ch: ClickHouseHandle, dir: string, mb: number) {
  const database = "bench_bare_bulk";
  await migrate(ch.client, database);
  const sink = clickHouseSink({ client: ch.client, database, localDir: join(dir, "bare-bulk") });
  const block = randomBytes(32 << 10);
  const fixed = eventRowFixed(randomUUID(), Date.now());
  const perBatch = Math.floor(DEFAULT_INGEST_LIMITS.batchBytes / block.length);
  const body = Buffer.allocUnsafe(perBatch * eventRowRoom(fixed, block, ""));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let seq = 0, batch = 0; seq < mb * 32; batch++) {
    let at = 0;
    const first = seq;
    for (; seq < Math.min(mb * 32, first + perBatch); seq++) at = writeEventRow(body, at, fixed, seq, Date.now(), "output", 0, seq * block.length, block, "", 0, RECORDING_VERSION);
    await sink.insert({ table: "events", format: "RowBinary", token: `bare-bulk-${batch}`, rows: seq - first, body: body.subarray(0, at) });
  }
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { mibPerSecond: mb / (elapsed / 1000), cpuMsPerMib: (cpu.user + cpu.system) / 1000 / mb };
}

async function bulkRun(ch: ClickHouseHandle, dir: string, mb: number) {
  const recorder = await createRecorder({
    client: ch.client, database: "bench_recorder_bulk", logger: jsonLogger("warn"), spoolDir: join(dir, "bulk-spool"), localInsertDir: join(dir, "bulk-ingest"),
  });
  const rec = recorder.open({
    sessionId: randomUUID(), protocol: "ssh", grantId: randomUUID(), userId: randomUUID(), userName: "bench-bulk", targetId: randomUUID(),
    targetName: "web-1", login: "ops", clientAddress: "127.0.0.1:1", node: "bench", startedAt: Date.now(), redactParameters: false,
  });
  rec.channelOpen({ channel: 0, type: "exec", pty: null, command: "head -c N /dev/urandom" });
  const block = randomBytes(32 << 10);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < mb * 32; i++) {
    if (!rec.output(0, block)) await rec.waitWritable();
    if (i % 64 === 63) await new Promise((r) => setImmediate(r));
  }
  rec.channelClose(0, { code: 0, signal: null });
  await rec.end("client disconnected");
  await recorder.drained();
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await recorder.close();
  return { mibPerSecond: mb / (elapsed / 1000), cpuMsPerMib: (cpu.user + cpu.system) / 1000 / mb };
}

async function directRun(ch: ClickHouseHandle, dir: string, rows: number) {
  const database = "bench_direct";
  await migrate(ch.client, database);
  const sink = clickHouseSink({ client: ch.client, database, localDir: join(dir, "direct") });
  const payloads = [...LINES, "l", ...STATEMENTS].map((l) => Buffer.from(l));
  const start = Date.now();
  const sessions = Array.from({ length: 100 }, () => eventRowFixed(randomUUID(), start));
  const cpu0 = process.cpuUsage();
  const gc0 = gcMs;
  const t0 = performance.now();
  for (let done = 0, batch = 0; done < rows; batch++) {
    const n = Math.min(DEFAULT_INGEST_LIMITS.batchRows, rows - done);
    const body = Buffer.allocUnsafe(n * Math.max(...payloads.map((p) => eventRowRoom(sessions[0] as EventRowFixed, p, ""))));
    let at = 0;
    for (let i = 0; i < n; i++) {
      const k = done + i;
      at = writeEventRow(body, at, sessions[k % 100] as EventRowFixed, Math.floor(k / 100), Date.now(), "output", 0, k * 60, payloads[k % payloads.length] as Buffer, "",
        Math.floor(k / 409600), RECORDING_VERSION);
    }
    await sink.insert({ table: "events", format: "RowBinary", token: `direct-${batch}`, rows: n, body: body.subarray(0, at) });
    done += n;
  }
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { elapsed, cpuMs: (cpu.user + cpu.system) / 1000, gc: gcMs - gc0, stored: await count(ch, `SELECT count() FROM ${database}.events`) };
}

async function count(ch: ClickHouseHandle, query: string): Promise<number> {
  const rows = await (await ch.client.query({ query, format: "JSONEachRow" })).json<Record<string, unknown>>();
  return Number(Object.values(rows[0] ?? {})[0] ?? 0);
}

main(async () => {
  const args = parseArgs(process.argv.slice(2), USAGE);
  const sessions = intOption(args, "sessions", 100);
  const seconds = intOption(args, "seconds", 10);
  const ptyShare = Number(args.options.get("pty-share") ?? 70);
  if (!Number.isInteger(ptyShare) || ptyShare < 0 || ptyShare > 100) fail("--pty-share is a whole percentage: 0 to 100");
  const bulkMb = intOption(args, "bulk-mb", 128);
  const dir = await mkdtemp(join(tmpdir(), "jitgate-bench-recorder-"));
  const ch = await openClickHouse({ path: join(dir, "clickhouse") });
  try {
    console.log(`recorder: ${sessions} sessions (${ptyShare}% SSH on a pty, the rest PostgreSQL) writing for ${seconds} s into embedded ClickHouse`);
    const r = await recorderRun(ch, dir, sessions, seconds, ptyShare);
    // The direct path stores as many event rows as the recorder did.
    const file = await directRun(ch, dir, r.stored);
    const bulk = bulkMb > 0 ? await bulkRun(ch, dir, bulkMb) : null;
    const bareBulk = bulkMb > 0 ? await bareBulkRun(ch, dir, bulkMb) : null;
    const rate = (n: number, ms: number) => n / (ms / 1000);
    printTable("recorder ingest (events through the recorder until all are in ClickHouse, vs bare inserts of as many event rows)", [
      { measure: "event rows per second", jitgate: rate(r.stored, r.elapsed), direct: rate(r.stored, file.elapsed), digits: 0 },
      { measure: "seconds until all stored", jitgate: r.elapsed / 1000, direct: file.elapsed / 1000 },
      // CPU of the whole process (ClickHouse's threads included): the figure least moved by other load on the machine.
      { measure: "CPU per event row (µs)", jitgate: (r.cpuMs * 1000) / r.stored, direct: (file.cpuMs * 1000) / r.stored, digits: 1 },
      { measure: "garbage collection per event row (µs)", jitgate: (r.gc * 1000) / r.stored, direct: (file.gc * 1000) / r.stored, digits: 1 },
    ], "bare insert");
    printGrid("recorder details", ["measure", "value"], [
      ["engine events per second (calls, until all stored)", rate(r.load.events, r.elapsed).toFixed(0)],
      ["CPU per engine event (µs, whole process)", ((r.cpuMs * 1000) / r.load.events).toFixed(1)],
      ["engine events (calls)", String(r.load.events)],
      ["of which SQL statements (the rest terminal bytes, opens and ends)", String(r.load.sqlEvents)],
      ["event rows stored (pieces of a stream in one millisecond share one)", String(r.stored)],
      ["distinct (session, seq) stored", String(r.distinct)],
      ["sessions with a gap in seq", String(r.gaps)],
      ["terminal bytes written / stored", `${r.load.terminalBytes} / ${r.terminalBytes}`],
      ["SQL statements written / stored", `${r.load.sqlEvents} / ${r.statements}`],
      ["zero loss", r.lossless ? "yes" : "NO"],
      ["payload MB per second (terminal bytes and SQL text)", (rate(r.load.bytes, r.elapsed) / 1e6).toFixed(2)],
      ["writing phase (s)", (r.written / 1000).toFixed(2)],
      ["engine-facing call p50 (µs)", (r.calls.p50 * 1000).toFixed(1)],
      ["engine-facing call p99 (µs)", (r.calls.p99 * 1000).toFixed(1)],
      ["engine-facing call max (ms)", r.calls.max.toFixed(2)],
      ...(bulk ? [
        [`bulk exec output, ${bulkMb} MiB in 32 KiB blocks: MiB per second until stored`, bulk.mibPerSecond.toFixed(1)],
        ["bulk exec output: CPU ms per MiB (whole process)", bulk.cpuMsPerMib.toFixed(1)],
      ] : []),
      ...(bareBulk ? [
        ["the same bulk with bare inserts (no recorder): MiB per second", bareBulk.mibPerSecond.toFixed(1)],
        ["the same bulk with bare inserts: CPU ms per MiB (whole process)", bareBulk.cpuMsPerMib.toFixed(1)],
      ] : []),
    ]);
    if (!r.lossless) fail(`lost or duplicated events: ${r.stored} rows (${r.distinct} distinct, ${r.gaps} sessions with gaps), terminal bytes ${r.terminalBytes} of ${r.load.terminalBytes}, statements ${r.statements} of ${r.load.sqlEvents}`);
    if (file.stored !== r.stored) fail(`the direct path stored ${file.stored} of ${r.stored} rows`);
  } finally {
    await ch.close();
    await rm(dir, { recursive: true, force: true });
  }
});
