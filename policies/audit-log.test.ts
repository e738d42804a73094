import { randomUUID } from "node:crypto";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AUDIT_EVENT_TYPES, type AuditEventDataByType, type AuditEventType } from "./audit-events.js";
import { AuditLog, GENESIS_HASH, auditHash, type AuditEntry, type AuditRecord } from "./audit-log.js";
import type { Clock, SqlClient, SqlRow } from "./ports.js";
import { migrations } from "./schema.js";

function wrap(db: PGlite | Transaction): SqlClient {
  const client: SqlClient = {
    shared: false,
    async query<R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]) {
      return (await db.query<R>(text, params ? [...params] : undefined)).rows;
    },
    transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
      if (db instanceof PGlite) return db.transaction((tx) => fn(wrap(tx)));
      return fn(client);
    },
  };
  return client;
}

const T0 = Date.UTC(2025, 2, 1, 12, 0, 0, 0);
let now = T0;
// Sub-millisecond on purpose: the log must round to what timestamptz keeps and re-reads.
const clock: Clock = { now: () => now + 0.4, setTimer: () => () => {} };

const samples: { [T in AuditEventType]: AuditEventDataByType[T] } = {
  "auth.login": { userName: "alice", clientAddress: "10.0.0.7" },
  "auth.login_failed": { userName: "mallory", reason: "bad-password" },
  "auth.logout": { userName: "alice" },
  "auth.password_changed": { userName: "alice", by: "admin" },
  "token.created": { tokenId: "t1", userName: "alice", label: "cli", expiresAt: "2025-03-02T12:00:00.000Z" },
  "token.revoked": { tokenId: "t1", userName: "alice" },
  "user.created": { userName: "vendor", roles: ["requester"], groups: ["vendors"], expiresAt: null },
  "user.updated": { userName: "vendor", changes: { roles: ["requester", "approver"], expiresAt: null } },
  "target.created": { targetName: "web-1", kind: "ssh", address: "10.1.0.5:22", labels: { env: "prod" } },
  "target.updated": { targetName: "web-1", changes: { labels: { env: "staging" } } },
  "account.created": { targetName: "web-1", login: "root", auth: "certificate" },
  "account.secret_set": { targetName: "web-1", login: "root", version: 2 },
  "certificate.issued": { userName: "alice", kind: "ssh-user", grantId: "g-1", keyId: "jitgate user=alice grant=g-1", serial: "42", notAfter: "2027-01-01T00:00:00.000Z" },
  "vault.rekeyed": { kekId: "k-2", kdf: "argon2id", rewrapped: 12 },
  "policy.applied": { policyName: "web-ops", version: 2, source: "policies.yaml" },
  "policy.deleted": { policyName: "web-ops", version: 3, source: "policies.yaml" },
  "request.created": {
    requestId: "r1", userName: "alice", targetName: "web-1", login: "root", durationMs: 1_800_000,
    reason: "INC-42: disk full", startsAt: null, extendsGrantId: null, policyName: "web-ops", approvalsRequired: 1,
  },
  "request.approved": { requestId: "r1", approverName: "bob", approvals: 1, approvalsRequired: 1 },
  "request.denied": { requestId: "r2", approverName: "bob", reason: "no ticket" },
  "request.cancelled": { requestId: "r3" },
  "request.expired": { requestId: "r4" },
  "grant.created": {
    grantId: "g1", requestId: "r1", userName: "alice", targetName: "web-1", login: "root", autoApproved: false,
    notBefore: "2025-03-01T12:00:00.000Z", notAfter: "2025-03-01T12:30:00.000Z",
  },
  "grant.extended": { grantId: "g1", requestId: "r5", previousNotAfter: "2025-03-01T12:30:00.000Z", notAfter: "2025-03-01T13:00:00.000Z" },
  "grant.revoked": { grantId: "g1", by: "bob", reason: null },
  "grant.ended": { grantId: "g1", userName: "alice", targetName: "web-1", login: "root", reason: "revoked", notAfter: "2025-03-01T13:00:00.000Z" },
  "session.started": { sessionId: "s1", grantId: "g1", protocol: "ssh", clientAddress: "10.0.0.7:50122" },
  "session.ended": { sessionId: "s1", grantId: "g1", reason: "grant revoked" },
  "session.refused": { protocol: "ssh", userName: "alice", targetName: "web-1", login: "root", reason: "no active grant", clientAddress: "127.0.0.1" },
  "session.viewed": { sessionId: "s1", mode: "replay" },
  "session.killed": { sessionId: "s1", userName: "alice", reason: null },
  "vault.rotated": { targetName: "web-1", login: "root", outcome: "rotated", reason: "grant-ended" },
};

function sample(type: AuditEventType, actor = "alice", target: string | null = "web-1"): AuditEntry {
  return { type, data: samples[type], actor, target } as AuditEntry;
}

let db: PGlite;
let sql: SqlClient;
let log: AuditLog;

// One PGlite for the file (each takes a second to start); every test gets fresh tables.
beforeAll(async () => {
  db = new PGlite();
  sql = wrap(db);
  log = new AuditLog({ sql, clock });
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  now = T0;
  await db.exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
  for (const m of migrations) await db.exec(m.sql);
});

async function seed(n: number): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let i = 0; i < n; i++) {
    now = T0 + i * 1000;
    out.push(await sql.transaction((tx) => log.append(tx, sample("auth.login", `user-${i}`))));
  }
  return out;
}

// What a superuser who wants to tamper does first.
async function asAttacker(statements: string): Promise<void> {
  await db.exec(`ALTER TABLE audit_events DISABLE TRIGGER USER; ${statements}; ALTER TABLE audit_events ENABLE TRIGGER USER`);
}

async function forge(seq: number, prevHash: string, at: Date): Promise<void> {
  const data = samples["grant.created"];
  const body = { seq, id: randomUUID(), at, type: "grant.created" as const, version: 1, actor: "mallory", target: "db-1", data };
  const hash = auditHash(prevHash, body);
  await db.query(
    "INSERT INTO audit_events (seq, id, at, type, version, actor, target, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)",
    [seq, body.id, at.toISOString(), body.type, 1, body.actor, body.target, JSON.stringify(body.data), prevHash, hash],
  );
}

describe("append", () => {
  it("chains an event of every type from the genesis hash and reads each back unchanged", async () => {
    const written: AuditRecord[] = [];
    for (const type of AUDIT_EVENT_TYPES) {
      now += 1000;
      written.push(await sql.transaction((tx) => log.append(tx, sample(type))));
    }
    expect(written.map((r) => r.seq)).toEqual(AUDIT_EVENT_TYPES.map((_, i) => i + 1));
    expect(written[0]?.prevHash).toBe(GENESIS_HASH);
    written.slice(1).forEach((r, i) => expect(r.prevHash).toBe(written[i]?.hash));
    expect(written.every((r) => r.version === 1 && r.at.getTime() % 1000 === 0)).toBe(true);
    expect(await log.query({ limit: 1000 })).toEqual(written);
    const result = await log.verify();
    expect(result).toEqual({ ok: true, count: AUDIT_EVENT_TYPES.length, headHash: written.at(-1)?.hash, problems: [] });
  });

  it("stores data as jsonb will return it: undefined dropped, text PostgreSQL refuses replaced", async () => {
    const record = await log.append(sql, {
      type: "auth.login_failed",
      actor: "ev\0il",
      data: { userName: "a\0b\uD800", reason: "unknown-user", clientAddress: undefined },
    });
    expect(record.actor).toBe("ev\uFFFDil");
    expect(record.target).toBeNull();
    expect(record.data).toStrictEqual({ userName: "a\uFFFDb\uFFFD", reason: "unknown-user" });
    expect(await log.query()).toEqual([record]);
    expect((await log.verify()).ok).toBe(true);
  });

  it("refuses an unknown type before touching the table", async () => {
    const bad = { type: "grant.stolen", actor: "x", data: {} } as unknown as AuditEntry;
    await expect(log.append(sql, bad)).rejects.toMatchObject({ code: "AUDIT_UNKNOWN_TYPE" });
    expect(await log.query()).toEqual([]);
  });

  it("commits with the caller's transaction and vanishes with its rollback", async () => {
    await seed(2);
    await expect(
      sql.transaction(async (tx) => {
        await log.append(tx, sample("grant.revoked"));
        throw new Error("the revoke failed");
      }),
    ).rejects.toThrow("the revoke failed");
    const next = await sql.transaction((tx) => log.append(tx, sample("grant.revoked")));
    expect(next.seq).toBe(3);
    expect(await log.verify()).toMatchObject({ ok: true, count: 3 });
  });

  it("keeps a gap-free chain under 50 concurrent appenders", async () => {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => sql.transaction((tx) => log.append(tx, sample("session.started", `user-${i}`)))),
    );
    const rows = await log.query({ limit: 1000 });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(rows.map((r) => r.actor)).size).toBe(50);
    expect(await log.verify()).toMatchObject({ ok: true, count: 50, problems: [] });
  });

  it("appends a batch of thousands in order under one lock, across insert and verify pages", async () => {
    await seed(3);
    const entries = Array.from({ length: 2100 }, (_, i): AuditEntry => ({
      type: "grant.ended",
      actor: "expiry-clock",
      target: "web-1",
      data: { ...samples["grant.ended"], grantId: `g-${i}`, reason: "expired" },
    }));
    const records = await sql.transaction((tx) => log.appendAll(tx, entries));
    expect(records.map((r) => r.seq)).toEqual(entries.map((_, i) => i + 4));
    expect(await log.appendAll(sql, [])).toEqual([]);
    const result = await log.verify();
    expect(result).toMatchObject({ ok: true, count: 2103, headHash: records.at(-1)?.hash });
    await asAttacker("UPDATE audit_events SET actor = 'nobody' WHERE seq = 1500");
    expect((await log.verify()).problems).toEqual([{ seq: 1500, problem: "edited", message: expect.any(String) }]);
  });
});

describe("verify names the damaged row", () => {
  beforeEach(async () => {
    await seed(10);
  });

  it("an edited row", async () => {
    await asAttacker(`UPDATE audit_events SET data = jsonb_set(data, '{userName}', '"mallory"') WHERE seq = 5`);
    const result = await log.verify();
    expect(result.ok).toBe(false);
    expect(result.count).toBe(10);
    expect(result.problems).toEqual([{ seq: 5, problem: "edited", message: expect.stringContaining("seq 5") }]);
  });

  it("a deleted middle row, and a deleted run", async () => {
    await asAttacker("DELETE FROM audit_events WHERE seq = 5");
    expect((await log.verify()).problems).toEqual([{ seq: 5, problem: "deleted", message: expect.stringContaining("seq 5 is missing") }]);
    await asAttacker("DELETE FROM audit_events WHERE seq IN (7, 8)");
    expect((await log.verify()).problems.map((p) => [p.seq, p.problem])).toEqual([[5, "deleted"], [7, "deleted"]]);
  });

  it("a deleted first row", async () => {
    await asAttacker("DELETE FROM audit_events WHERE seq = 1");
    expect((await log.verify()).problems).toEqual([{ seq: 1, problem: "deleted", message: expect.any(String) }]);
  });

  it("a forged row appended by hand that does not chain to the head", async () => {
    const [, , third] = await log.query({ limit: 3 });
    // Backdated to sit after seq 3, which is where the forger wants it to look like it belongs.
    await forge(11, third!.hash, new Date(third!.at.getTime() + 1));
    const result = await log.verify();
    expect(result.count).toBe(11);
    expect(result.problems).toEqual([{ seq: 11, problem: "inserted", message: expect.stringContaining("seq 11") }]);
  });

  it("a forged row put in the place of a removed one", async () => {
    const [, second] = await log.query({ limit: 2 });
    await asAttacker("DELETE FROM audit_events WHERE seq = 5");
    await forge(5, second!.hash, new Date(T0 + 4500));
    expect((await log.verify()).problems).toEqual([{ seq: 5, problem: "inserted", message: expect.any(String) }]);
  });

  it("two swapped neighbours", async () => {
    await asAttacker("UPDATE audit_events SET seq = -4 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = -4");
    expect((await log.verify()).problems).toEqual([
      { seq: 4, problem: "reordered", message: "seq 4 holds the event written as seq 5" },
      { seq: 5, problem: "reordered", message: "seq 5 holds the event written as seq 4" },
    ]);
  });

  it("two swapped rows far apart", async () => {
    await asAttacker("UPDATE audit_events SET seq = -3 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = 8; UPDATE audit_events SET seq = 8 WHERE seq = -3");
    expect((await log.verify()).problems.map((p) => [p.seq, p.problem, p.message])).toEqual([
      [3, "reordered", "seq 3 holds the event written as seq 8"],
      [8, "reordered", "seq 8 holds the event written as seq 3"],
    ]);
  });

  it("and stops collecting after 100 problems while still counting every row", async () => {
    await seed(140);
    await asAttacker("UPDATE audit_events SET actor = 'x'");
    const result = await log.verify();
    expect(result).toMatchObject({ ok: false, count: 150 });
    expect(result.problems).toHaveLength(100);
  });

  it("on an empty log: ok, from the genesis hash", async () => {
    await asAttacker("TRUNCATE audit_events");
    expect(await log.verify()).toEqual({ ok: true, count: 0, headHash: GENESIS_HASH, problems: [] });
  });
});

describe("the append-only trigger", () => {
  it("refuses UPDATE, DELETE and TRUNCATE with a clear message", async () => {
    await seed(2);
    await expect(db.query("UPDATE audit_events SET actor = 'x' WHERE seq = 1")).rejects.toThrow("audit_events is append-only: UPDATE is not allowed");
    await expect(db.query("DELETE FROM audit_events WHERE seq = 1")).rejects.toThrow("audit_events is append-only: DELETE is not allowed");
    await expect(db.query("DELETE FROM audit_events WHERE seq = 999")).rejects.toThrow("append-only");
    await expect(db.query("TRUNCATE audit_events")).rejects.toThrow("audit_events is append-only: TRUNCATE is not allowed");
    expect(await log.verify()).toMatchObject({ ok: true, count: 2 });
  });
});

describe("query", () => {
  beforeEach(async () => {
    const plan: [AuditEventType, string, string | null][] = [
      ["auth.login", "alice", null],
      ["auth.login_failed", "mallory", null],
      ["request.created", "alice", "web-1"],
      ["request.approved", "bob", "web-1"],
      ["grant.created", "system", "web-1"],
      ["session.started", "alice", "web-1"],
      ["grant.revoked", "bob", "db-1"],
      ["grant.ended", "system", "db-1"],
    ];
    for (const [i, [type, actor, target]] of plan.entries()) {
      now = T0 + i * 60_000;
      await log.append(sql, sample(type, actor, target));
    }
  });
  const seqs = (rows: AuditRecord[]) => rows.map((r) => r.seq);

  it("orders by seq and filters by time range, since inclusive and until exclusive", async () => {
    expect(seqs(await log.query())).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(seqs(await log.query({ since: new Date(T0 + 120_000), until: new Date(T0 + 300_000) }))).toEqual([3, 4, 5]);
  });

  it("filters by actor and by target", async () => {
    expect(seqs(await log.query({ actor: "alice" }))).toEqual([1, 3, 6]);
    expect(seqs(await log.query({ target: "db-1" }))).toEqual([7, 8]);
    expect(seqs(await log.query({ actor: "bob", target: "web-1" }))).toEqual([4]);
  });

  it("filters by exact type or by a prefix ending in a dot", async () => {
    expect(seqs(await log.query({ type: "grant." }))).toEqual([5, 7, 8]);
    expect(seqs(await log.query({ type: "auth.login" }))).toEqual([1]);
    expect(seqs(await log.query({ type: "auth." }))).toEqual([1, 2]);
    expect(seqs(await log.query({ type: "auth_" }))).toEqual([]);
    expect(seqs(await log.query({ type: "a%." }))).toEqual([]);
  });

  it("pages with afterSeq and limit", async () => {
    expect(seqs(await log.query({ limit: 3 }))).toEqual([1, 2, 3]);
    expect(seqs(await log.query({ afterSeq: 3, limit: 3 }))).toEqual([4, 5, 6]);
    expect(seqs(await log.query({ afterSeq: 6, limit: 3 }))).toEqual([7, 8]);
    expect(seqs(await log.query({ afterSeq: 2, type: "grant.", limit: 2 }))).toEqual([5, 7]);
  });

  it("refuses a limit outside 1..1000 and an invalid date", async () => {
    await expect(log.query({ limit: 1001 })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID", kind: "invalid" });
    await expect(log.query({ limit: 0 })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    await expect(log.query({ since: new Date(Number.NaN) })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
  });
});
