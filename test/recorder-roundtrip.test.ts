// Events round-trip through the recorder and embedded ClickHouse for every protocol, and the
// read side finds them: sessions, event ranges, the terminal channel, keyframes and search.
import { generateKeyPairSync } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import {
  createRecorder, ed25519Signer, ed25519Verifier, RecordingReader, toAsciicast, type RecordedEvent, type SessionStart,
} from "../recorder/index.js";
import { closeEmbedded, embedded, freshDatabase, keptLogger, sessionStart, tempDir } from "./recorder-kit.js";

afterAll(closeEmbedded);

async function setup(opts: { signed?: boolean; now?: () => number } = {}) {
  const { ch } = await embedded();
  const database = freshDatabase();
  const logger = keptLogger();
  const keys = generateKeyPairSync("ed25519");
  const signer = opts.signed ? ed25519Signer(keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString()) : null;
  const recorder = await createRecorder({
    client: ch.client, database, logger, spoolDir: tempDir(), signer,
    // A quote and a backslash in the path: it goes into the insert as a literal.
    localInsertDir: tempDir("jitgate-ingest-it's\\here-"), keyframeIntervalMs: 50, now: opts.now,
  });
  const reader = new RecordingReader({ client: ch.client, database, recorder, verifier: ed25519Verifier([keys.publicKey]) });
  return { ch, database, recorder, reader, logger };
}

async function allEvents(reader: RecordingReader, sessionId: string): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (let from: number | null = 0; from !== null; ) {
    const page = await reader.events(sessionId, { fromSeq: from, limit: 500 });
    out.push(...page.events);
    from = page.nextSeq;
  }
  return out;
}

const bytes = (s: string | number[]) => (typeof s === "string" ? new Uint8Array(Buffer.from(s)) : new Uint8Array(s));

describe("recorder round trip", () => {
  it("keeps an SSH session's pty, exec and sftp channels with exact bytes, offsets and order", async () => {
    const { recorder, reader } = await setup({ signed: true });
    const start = sessionStart();
    const rec = recorder.open(start);
    rec.channelOpen({ channel: 0, type: "shell", pty: { term: "xterm-256color", cols: 80, rows: 24 }, command: null });
    rec.output(0, bytes("Welcome to web-1\r\n$ "));
    for (const key of "psql -c 'DROP TABLE orders'\r") rec.input(0, bytes(key));
    rec.output(0, bytes("psql -c 'DROP TABLE orders'\r\nDROP TABLE\r\n$ "));
    rec.output(0, bytes([0xff, 0xfe, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3])); // invalid UTF-8 and a cut sequence
    rec.resize(0, 120, 40);
    rec.channelOpen({ channel: 1, type: "exec", pty: null, command: "tar czf - /etc" });
    const binary = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
    rec.output(1, binary);
    rec.channelClose(1, { code: 0, signal: null });
    rec.channelOpen({ channel: 1, type: "subsystem", pty: null, command: "sftp" });
    rec.sftp({ channel: 1, op: "write", path: "/etc/passwd", bytes: 1234, status: "ok" });
    rec.sftp({ channel: 1, op: "rename", path: "/tmp/a", path2: "/tmp/b", status: "PERMISSION_DENIED" });
    rec.channelClose(1, { code: null, signal: null });
    rec.channelClose(0, { code: 0, signal: null });
    await rec.end("client disconnected");
    await recorder.flush();

    const events = await allEvents(reader, start.sessionId);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events[0]).toMatchObject({ kind: "start", start: { sessionId: start.sessionId, userName: "alice", targetName: "web-1" } });
    expect(events[events.length - 1]).toMatchObject({ kind: "end", reason: "client disconnected" });

    const shell = events.filter((e) => e.channel === 0 && e.kind === "output");
    const shellBytes = Buffer.concat(shell.map((e) => (e.kind === "output" ? Buffer.from(e.data) : Buffer.alloc(0))));
    expect(shellBytes.equals(Buffer.concat([bytes("Welcome to web-1\r\n$ "), bytes("psql -c 'DROP TABLE orders'\r\nDROP TABLE\r\n$ "), bytes([0xff, 0xfe, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3])]))).toBe(true);
    let offset = 0;
    for (const e of shell) {
      if (e.kind !== "output") continue;
      expect(e.offset).toBe(offset);
      offset += e.data.length;
    }
    const typed = events.filter((e) => e.kind === "input");
    expect(Buffer.concat(typed.map((e) => (e.kind === "input" ? Buffer.from(e.data) : Buffer.alloc(0)))).toString()).toBe("psql -c 'DROP TABLE orders'\r");

    // The exec channel is channel 1; the sftp channel reused engine channel 1 and is channel 2.
    const exec = events.filter((e) => e.channel === 1 && e.kind === "output");
    expect(Buffer.concat(exec.map((e) => (e.kind === "output" ? Buffer.from(e.data) : Buffer.alloc(0)))).equals(Buffer.from(binary))).toBe(true);
    expect(exec.length).toBeGreaterThan(1); // split into rows of at most 64 KiB
    expect(events.find((e) => e.kind === "channel_open" && e.channel === 1)).toMatchObject({ open: { type: "exec", command: "tar czf - /etc", pty: null } });
    expect(events.filter((e) => e.kind === "sftp")).toMatchObject([
      { channel: 2, sftp: { op: "write", path: "/etc/passwd", bytes: 1234, status: "ok" } },
      { channel: 2, sftp: { op: "rename", path: "/tmp/a", path2: "/tmp/b", status: "PERMISSION_DENIED" } },
    ]);
    expect(events.find((e) => e.kind === "resize")).toMatchObject({ channel: 0, cols: 120, rows: 40 });
    expect(events.filter((e) => e.kind === "channel_close").map((e) => e.kind === "channel_close" && e.exit.code)).toEqual([0, null, 0]);

    const summary = await reader.get(start.sessionId);
    expect(summary).toMatchObject({ sessionId: start.sessionId, protocol: "ssh", live: false, endReason: "client disconnected", events: events.length, sealed: true, signed: true, userName: "alice", login: "root" });
    expect(summary?.bytesOut).toBe(shellBytes.length + binary.length);

    const term = await reader.terminal(start.sessionId);
    expect(term).toMatchObject({ channel: 0, header: { cols: 80, rows: 24, env: { TERM: "xterm-256color" } } });
    const cast = toAsciicast(term!.header, term!.events).trim().split("\n");
    expect(JSON.parse(cast[0]!)).toMatchObject({ version: 2, width: 80, height: 24 });
    expect(cast.slice(1).map((l) => (JSON.parse(l) as unknown[])[1])).toContain("r");

    const keyframes = await reader.keyframes(start.sessionId);
    expect(keyframes.length).toBeGreaterThan(0);
    const last = await reader.keyframeAt(start.sessionId, { channel: 0 });
    expect(last?.screen).toContain("DROP TABLE");

    const report = await reader.verify(start.sessionId);
    expect(report).toMatchObject({ ok: true, sealed: true, signature: "valid", problem: null, events: events.length });
  });

  it("keeps pieces of a stream given in one millisecond in one row, split where the millisecond, the stream or another event changes", async () => {
    let now = 1_765_000_000_000;
    const { recorder, reader } = await setup({ signed: true, now: () => now });
    const start = sessionStart();
    const rec = recorder.open(start);
    rec.channelOpen({ channel: 0, type: "shell", pty: { term: "xterm", cols: 80, rows: 24 }, command: null });
    for (const piece of ["total 8\r\n", "a.txt\r\n", "b.txt\r\n"]) rec.output(0, bytes(piece)); // one row
    rec.input(0, bytes("l")); // another stream: a row of its own
    rec.output(0, bytes("l")); // and back: a new row
    now += 1;
    rec.output(0, bytes("s\r\n")); // the next millisecond: a new row
    rec.output(0, bytes(new Array(5000).fill(0x41))); // too large to gather with it: its own row
    rec.resize(0, 100, 30); // another event ends the row being gathered, which comes before it
    rec.output(0, bytes("$ "));
    await new Promise((r) => setImmediate(r)); // the end of the turn writes what was gathered
    rec.output(0, bytes("exit\r\n")); // same millisecond, but a new turn: a new row
    await rec.end("client disconnected");
    await recorder.flush();

    const events = await allEvents(reader, start.sessionId);
    const rows = events.map((e) => (e.kind === "output" || e.kind === "input" ? `${e.kind}@${e.offset}:${Buffer.from(e.data).toString().slice(0, 12)}` : e.kind));
    expect(rows).toEqual([
      "start", "channel_open", "output@0:total 8\r\na.t", "input@0:l", "output@23:l", "output@24:s\r\n", `output@27:${"A".repeat(12)}`,
      "resize", "output@5027:$ ", "output@5029:exit\r\n", "end",
    ]);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    const first = events[2];
    expect(first?.kind === "output" && Buffer.from(first.data).toString()).toBe("total 8\r\na.txt\r\nb.txt\r\n");
    expect(await reader.verify(start.sessionId)).toMatchObject({ ok: true, sealed: true, signature: "valid", events: events.length });
  });

  it("keeps SQL statements with their outcome, parameters redacted when the policy says so", async () => {
    const { recorder, reader } = await setup();
    const plain = sessionStart({ protocol: "postgres", targetName: "billing-db", login: "billing_admin" });
    const redacted = sessionStart({ protocol: "postgres", targetName: "billing-db", login: "billing_admin", redactParameters: true });
    for (const s of [plain, redacted]) {
      const rec = recorder.open(s);
      rec.sql({ text: "SELECT * FROM cards WHERE number = $1", params: ["4111111111111111", null], durationMs: 3, tag: "SELECT 1", rows: 1, sqlstate: null, error: null, stage: null });
      rec.sql({ text: "DROP TABLE invoices", params: null, durationMs: 1, tag: null, rows: null, sqlstate: "42501", error: "permission denied for table invoices", stage: "simple" });
      await rec.end("client closed");
    }
    const sqlOf = async (s: SessionStart) => (await reader.events(s.sessionId, { kinds: ["sql"] })).events.map((e) => (e.kind === "sql" ? e.sql : null));
    expect(await sqlOf(plain)).toEqual([
      { text: "SELECT * FROM cards WHERE number = $1", params: ["4111111111111111", null], durationMs: 3, tag: "SELECT 1", rows: 1, sqlstate: null, error: null, stage: null },
      { text: "DROP TABLE invoices", params: null, durationMs: 1, tag: null, rows: null, sqlstate: "42501", error: "permission denied for table invoices", stage: "simple" },
    ]);
    const hidden = await sqlOf(redacted);
    expect(hidden[0]?.params).toEqual(["[redacted]", null]);
    expect(JSON.stringify(await allEvents(reader, redacted.sessionId))).not.toContain("4111111111111111");
    expect((await reader.list({ protocol: "postgres", targetName: "billing-db" })).map((s) => s.sessionId).sort()).toEqual([plain.sessionId, redacted.sessionId].sort());
    expect((await reader.verify(redacted.sessionId)).ok).toBe(true);
  });

  it("keeps HTTP exchanges", async () => {
    const { recorder, reader } = await setup();
    const s = sessionStart({ protocol: "http", targetName: "grafana" });
    const rec = recorder.open(s);
    rec.http({ method: "GET", path: "/api/dashboards", query: "q=prod", status: 200, requestBytes: 0, responseBytes: 5120, durationMs: 12 });
    rec.http({ method: "DELETE", path: "/api/dashboards/7", query: "", status: 403, requestBytes: 0, responseBytes: 40, durationMs: 2, responseBody: '{"message":"forbidden"}' });
    rec.http({ method: "GET", path: "/api/live/ws", query: "", status: 101, requestBytes: 0, responseBytes: 0, durationMs: 1, websocket: true });
    await rec.end("client closed");
    const page = await reader.events(s.sessionId, { kinds: ["http"] });
    expect(page.events.map((e) => (e.kind === "http" ? e.http : null))).toEqual([
      { method: "GET", path: "/api/dashboards", query: "q=prod", status: 200, requestBytes: 0, responseBytes: 5120, durationMs: 12 },
      { method: "DELETE", path: "/api/dashboards/7", query: "", status: 403, requestBytes: 0, responseBytes: 40, durationMs: 2, responseBody: '{"message":"forbidden"}' },
      { method: "GET", path: "/api/live/ws", query: "", status: 101, requestBytes: 0, responseBytes: 0, durationMs: 1, websocket: true },
    ]);
    const hits = await reader.search("delete /api/dashboards");
    expect(hits).toMatchObject([{ sessionId: s.sessionId, source: "http", line: "DELETE /api/dashboards/7 403", protocol: "http" }]);
  });

  it("search finds what was typed, shown and queried, with the session and the moment", async () => {
    const { recorder, reader } = await setup();
    const ssh = sessionStart({ userName: "bob" });
    const pg = sessionStart({ protocol: "postgres", userName: "carol", targetName: "billing-db" });
    const rec = recorder.open(ssh);
    rec.channelOpen({ channel: 0, type: "shell", pty: { term: "xterm", cols: 80, rows: 24 }, command: null });
    rec.output(0, bytes("$ "));
    for (const key of "rm -rf /var/lib/secretstuff\r") rec.input(0, bytes(key));
    rec.output(0, bytes("rm -rf /var/lib/secretstuff\r\n$ cat notes\r\nthe launch code is BLUE HARVEST\r\n$ "));
    const before = Date.now();
    const pgRec = recorder.open(pg);
    pgRec.sql({ text: "BEGIN;\nDELETE FROM payouts WHERE approved = false;\nCOMMIT;", params: null, durationMs: 2, tag: "COMMIT", rows: null, sqlstate: null, error: null, stage: null });
    await Promise.all([rec.end("done"), pgRec.end("done")]);

    const typed = await reader.search("rm -rf /var/lib");
    expect(typed.find((h) => h.source === "typed")).toMatchObject({ sessionId: ssh.sessionId, userName: "bob", line: "rm -rf /var/lib/secretstuff", channel: 0 });
    const shown = await reader.search("blue harvest");
    expect(shown).toMatchObject([{ sessionId: ssh.sessionId, source: "shown", line: "the launch code is BLUE HARVEST" }]);
    const queried = await reader.search("DELETE FROM payouts");
    expect(queried).toMatchObject([{ sessionId: pg.sessionId, source: "sql", line: "DELETE FROM payouts WHERE approved = false;", seq: 1 }]);
    expect(queried[0]!.ts).toBeGreaterThanOrEqual(before);
    expect(await reader.search("DELETE FROM payouts", { userName: "bob" })).toEqual([]);
    expect(await reader.search("100%_literal")).toEqual([]);
  });

  it("lists sessions by user, target, protocol and state, live ones included", async () => {
    const { recorder, reader } = await setup();
    const a = sessionStart({ userName: "dave", targetName: "db-9", protocol: "postgres" });
    const b = sessionStart({ userName: "dave", targetName: "web-9" });
    const ra = recorder.open(a);
    const rb = recorder.open(b);
    await ra.end("grant expired");
    await recorder.flush();
    const live = await reader.list({ userName: "dave", state: "live" });
    expect(live.map((s) => s.sessionId)).toEqual([b.sessionId]);
    expect(live[0]).toMatchObject({ live: true, endedAt: null, events: null });
    const ended = await reader.list({ userName: "dave", state: "ended" });
    expect(ended).toMatchObject([{ sessionId: a.sessionId, endReason: "grant expired", live: false }]);
    expect(ended[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect((await reader.list({ userName: "dave", since: Date.now() + 60_000 })).map((s) => s.sessionId)).toEqual([b.sessionId]);
    expect(await reader.list({ userName: "dave", until: a.startedAt - 60_000 })).toEqual([]);
    await rb.end("client closed");
    await recorder.close();
  });
});

