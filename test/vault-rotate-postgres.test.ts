// PostgreSQL password rotation against a real server with scram-sha-256 authentication:
// the two phases, every failure path, recovery after a crash, and that no plaintext leaks.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { VaultError } from "../vault/errors.js";
import { PostgresRotator, type PostgresTarget } from "../vault/rotate-postgres.js";
import { generatePassword, scramSha256Verifier } from "../vault/scram.js";
import { startPrivateCluster, type PrivateCluster } from "./support/postgres.js";
import { FakeLog, FakeSecrets } from "./support/fake-rotation.js";

const NAME = "billing-db/app";
const ROTATOR = "billing-db/rotator";
let cluster: PrivateCluster;
let admin: pg.Client;
let serverLog: string;
let target: PostgresTarget;
let secrets: FakeSecrets;
let log: FakeLog;
let rotator: PostgresRotator;
// Plaintexts from every test, checked against the server log at the end.
const allPlaintexts: string[] = [];

async function loginError(login: string, password: string, port = cluster.port): Promise<string | null> {
  const client = new pg.Client({ host: "127.0.0.1", port, database: "postgres", user: login, password, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (err) {
    return String((err as { code?: unknown }).code ?? (err as Error).message);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Sets a role's password the way an operator outside the vault would, without logging the plaintext. */
async function setPassword(login: string, password: string): Promise<void> {
  await admin.query(`ALTER ROLE ${pg.escapeIdentifier(login)} PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`);
}

async function expectRotationError(p: Promise<unknown>, code: string): Promise<VaultError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VaultError);
  expect((err as VaultError).code).toBe(code);
  return err as VaultError;
}

function expectNoPlaintext(text: string): void {
  for (const p of secrets.seen) expect(text).not.toContain(p);
}

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

const rotation = (over: Partial<Parameters<PostgresRotator["rotate"]>[0]> = {}) => ({
  name: NAME,
  target,
  login: "app",
  actor: "alice",
  reason: "quarterly rotation",
  trigger: "on-demand" as const,
  ...over,
});

beforeAll(async () => {
  const superuserPassword = generatePassword();
  cluster = await startPrivateCluster({ auth: "scram-sha-256", superuserPassword });
  admin = new pg.Client({ connectionString: cluster.url });
  admin.on("error", () => undefined);
  await admin.connect();
  await admin.query("ALTER SYSTEM SET log_statement = 'all'");
  await admin.query("SELECT pg_reload_conf()");
  const [row] = (await admin.query<{ data_directory: string }>("SHOW data_directory")).rows;
  // The cluster helper starts the server with `pg_ctl -l <dir>/log` beside the data directory.
  serverLog = join(dirname(row?.data_directory ?? ""), "log");
  target = { host: "127.0.0.1", port: cluster.port, database: "postgres" };
});

afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await cluster?.stop();
});

beforeEach(async () => {
  if (secrets) allPlaintexts.push(...secrets.seen);
  secrets = new FakeSecrets();
  log = new FakeLog();
  rotator = new PostgresRotator({ secrets, log });
  await admin.query("DROP ROLE IF EXISTS app");
  await admin.query("DROP ROLE IF EXISTS rotator");
  await admin.query("CREATE ROLE app LOGIN");
  const initial = generatePassword();
  await setPassword("app", initial);
  secrets.seed(NAME, initial);
});

describe("SCRAM-SHA-256 verifiers computed by the vault", () => {
  it("are accepted by PostgreSQL as stored and let the password log in", async () => {
    const password = generatePassword();
    const verifier = scramSha256Verifier(password, { salt: Buffer.alloc(16, 1), iterations: 4096 });
    await admin.query(`ALTER ROLE app PASSWORD ${pg.escapeLiteral(verifier)}`);
    const { rows } = await admin.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'");
    expect(rows[0]?.rolpassword).toBe(verifier);
    expect(await loginError("app", password)).toBeNull();
    expect(await loginError("app", `${password}x`)).toBe("28P01");
    secrets.seen.push(password);
  });

  it("equal what PostgreSQL computes from the plaintext with the same salt", async () => {
    // A throwaway password PostgreSQL hashes itself; it is deliberately left out of the leak checks.
    const throwaway = `pg-${randomBytes(6).toString("hex")}`;
    await admin.query("SET password_encryption = 'scram-sha-256'");
    await admin.query(`ALTER ROLE app PASSWORD ${pg.escapeLiteral(throwaway)}`);
    const { rows } = await admin.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'");
    const theirs = rows[0]?.rolpassword ?? "";
    const [, params = ""] = theirs.split("$");
    const [iterations = "", salt = ""] = params.split(":");
    expect(scramSha256Verifier(throwaway, { iterations: Number(iterations), salt: Buffer.from(salt, "base64") })).toBe(theirs);
  });
});

describe("PostgresRotator", () => {
  it("rotates a role's own password: the old one fails, the new one works, only a verifier was sent", async () => {
    const old = (await secrets.current(NAME)).toString();
    await expect(rotator.rotate(rotation())).resolves.toEqual({ version: 2 });
    expect(secrets.states(NAME)).toEqual([[1, "retired"], [2, "current"]]);
    const fresh = (await secrets.current(NAME)).toString();
    expect(await loginError("app", old)).toBe("28P01");
    expect(await loginError("app", fresh)).toBeNull();
    const { rows } = await admin.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'");
    expect(rows[0]?.rolpassword.startsWith("SCRAM-SHA-256$4096:")).toBe(true);
    expect(log.entries).toHaveLength(1);
    expect(log.entries[0]).toMatchObject({ name: NAME, actor: "alice", reason: "quarterly rotation", trigger: "on-demand", outcome: "rotated", error: null, version: 2 });
    expect(log.entries[0]!.finishedAt.getTime()).toBeGreaterThanOrEqual(log.entries[0]!.startedAt.getTime());
    expectNoPlaintext(JSON.stringify(log.entries));
  });

  it("rotates through a rotator role that may ALTER ROLE the login", async () => {
    const rotatorPassword = generatePassword();
    await admin.query("CREATE ROLE rotator LOGIN CREATEROLE");
    await admin.query("GRANT app TO rotator WITH ADMIN OPTION");
    await setPassword("rotator", rotatorPassword);
    secrets.seed(ROTATOR, rotatorPassword);
    const old = (await secrets.current(NAME)).toString();
    // The login's own password is not needed when a rotator does the work.
    await setPassword("app", generatePassword());
    const result = await rotator.rotate(rotation({ via: { login: "rotator", secretName: ROTATOR }, trigger: "check-in" }));
    expect(result).toEqual({ version: 2 });
    expect(await loginError("app", old)).toBe("28P01");
    expect(await loginError("app", (await secrets.current(NAME)).toString())).toBeNull();
    expect(await loginError("rotator", rotatorPassword)).toBeNull();
    expect(secrets.states(ROTATOR)).toEqual([[1, "current"]]);
    expect(log.entries.map((e) => [e.trigger, e.outcome])).toEqual([["check-in", "rotated"]]);
  });

  it("fails promptly against a closed port: old value current, nothing pending, history says why", async () => {
    const port = await closedPort();
    const started = Date.now();
    const err = await expectRotationError(rotator.rotate(rotation({ target: { ...target, port } })), "ROTATION_FAILED");
    expect(Date.now() - started).toBeLessThan(5_500);
    expect(err.kind).toBe("unavailable");
    expect(err.message).toContain(`127.0.0.1:${port}/postgres`);
    expect(err.message).toMatch(/connect failed: ECONNREFUSED/);
    expect(err.message).toContain("version 2 was discarded and the previous password stays current");
    expect(secrets.states(NAME)).toEqual([[1, "current"], [2, "discarded"]]);
    expect(await secrets.pending(NAME)).toBeNull();
    expect(log.entries).toHaveLength(1);
    expect(log.entries[0]).toMatchObject({ outcome: "failed", version: 2, error: err.message });
    expectNoPlaintext(err.message);
  });

  it("gives up on a target that accepts TCP but never answers within the 5 s timeout", async () => {
    const held: Socket[] = [];
    const silent: Server = createServer((s) => held.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const started = Date.now();
      const err = await expectRotationError(rotator.rotate(rotation({ target: { ...target, port } })), "ROTATION_FAILED");
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(4_500);
      expect(elapsed).toBeLessThan(7_000);
      expect(err.message).toMatch(/connect failed: .*timeout/);
      expect(secrets.states(NAME)).toEqual([[1, "current"], [2, "discarded"]]);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("refuses clearly when the role's password was changed outside the vault, and keeps the old value", async () => {
    const outside = generatePassword();
    secrets.seen.push(outside);
    await setPassword("app", outside);
    const err = await expectRotationError(rotator.rotate(rotation()), "ROTATION_FAILED");
    expect(err.kind).toBe("forbidden");
    expect(err.message).toMatch(/role app on 127\.0\.0\.1:\d+\/postgres\): connect failed: 28P01 password authentication failed for user "app"/);
    expect(secrets.states(NAME)).toEqual([[1, "current"], [2, "discarded"]]);
    expect(await loginError("app", outside)).toBeNull();
    expectNoPlaintext(err.message);
    expectNoPlaintext(JSON.stringify(log.entries));
  });

  it("keeps the applied version pending when the process dies before promoting, and recovery promotes it", async () => {
    const old = (await secrets.current(NAME)).toString();
    secrets.failPromoteOnce = true;
    const err = await expectRotationError(rotator.rotate(rotation()), "ROTATION_FAILED");
    expect(err.message).toMatch(/promote failed: .*version 2 is kept pending/);
    const pending = await secrets.pending(NAME);
    expect(pending?.version).toBe(2);
    // The target already runs on the pending password; the vault's current one no longer logs in.
    expect(await loginError("app", pending!.value.toString())).toBeNull();
    expect(await loginError("app", old)).toBe("28P01");

    await expect(rotator.recover({ name: NAME, target, login: "app", actor: "gateway" })).resolves.toEqual({ outcome: "recovered", version: 2 });
    expect(secrets.states(NAME)).toEqual([[1, "retired"], [2, "current"]]);
    expect(await loginError("app", (await secrets.current(NAME)).toString())).toBeNull();
    expect(log.entries.map((e) => [e.trigger, e.outcome, e.version])).toEqual([["on-demand", "failed", 2], ["recovery", "recovered", 2]]);
    await expect(rotator.recover({ name: NAME, target, login: "app", actor: "gateway" })).resolves.toEqual({ outcome: "clean" });
    expectNoPlaintext(JSON.stringify(log.entries) + err.message);
  });

  it("discards a pending version that never reached the target before the next rotation", async () => {
    const old = (await secrets.current(NAME)).toString();
    // As if a process died after storing the pending value but before ALTER ROLE.
    await secrets.putPending(NAME, "password", Buffer.from(generatePassword()), "alice", "interrupted");
    await expect(rotator.rotate(rotation({ trigger: "schedule" }))).resolves.toEqual({ version: 3 });
    expect(secrets.states(NAME)).toEqual([[1, "retired"], [2, "discarded"], [3, "current"]]);
    expect(await loginError("app", old)).toBe("28P01");
    expect(await loginError("app", (await secrets.current(NAME)).toString())).toBeNull();
    expect(log.entries.map((e) => [e.trigger, e.outcome, e.version])).toEqual([["recovery", "discarded", 2], ["schedule", "rotated", 3]]);
    expect(log.entries[0]!.reason).toBe("before rotation: quarterly rotation");
  });

  it("fails recovery, and so the rotation, when neither the pending nor the current password logs in", async () => {
    await secrets.putPending(NAME, "password", Buffer.from(generatePassword()), "alice", "interrupted");
    await setPassword("app", generatePassword());
    const err = await expectRotationError(rotator.rotate(rotation()), "ROTATION_RECOVERY_FAILED");
    expect(err.message).toMatch(/neither pending version 2 nor the current version of billing-db\/app logs in .*both are kept/);
    expect(secrets.states(NAME)).toEqual([[1, "current"], [2, "pending"]]);
    expect(log.entries.map((e) => [e.trigger, e.outcome])).toEqual([["recovery", "failed"]]);
    expectNoPlaintext(err.message);
  });

  it("refuses malformed requests before touching the vault or the target", async () => {
    for (const bad of [rotation({ login: "" }), rotation({ reason: " " }), rotation({ target: { ...target, port: 0 } }), rotation({ via: { login: "r", secretName: NAME } })]) {
      await expectRotationError(rotator.rotate(bad), "ROTATION_INVALID_INPUT");
    }
    expect(secrets.states(NAME)).toEqual([[1, "current"]]);
    expect(log.entries).toEqual([]);
  });

  it("runs rotations of one name one after another", async () => {
    const results = await Promise.all([rotator.rotate(rotation()), rotator.rotate(rotation()), rotator.rotate(rotation())]);
    expect(results.map((r) => r.version)).toEqual([2, 3, 4]);
    expect(secrets.states(NAME)).toEqual([[1, "retired"], [2, "retired"], [3, "retired"], [4, "current"]]);
    expect(await loginError("app", (await secrets.current(NAME)).toString())).toBeNull();
  });

  it("never let a rotated plaintext reach the server log, which did log every statement", async () => {
    allPlaintexts.push(...secrets.seen);
    const text = await readFile(serverLog, "utf8");
    expect(text).toMatch(/statement: ALTER ROLE "app" PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(allPlaintexts.length).toBeGreaterThan(15);
    for (const p of allPlaintexts) expect(text).not.toContain(p);
  });
});
