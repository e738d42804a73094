// Ephemeral PostgreSQL roles against a real server with scram-sha-256 authentication, driven
// by a gateway account that is not a superuser: created, used, dropped with its sessions and
// its objects, orphans cleaned, and no password in the server's statement log.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EphemeralRoles, ephemeralRoleName, type EphemeralPlace } from "../vault/ephemeral-postgres.js";
import { VaultError } from "../vault/errors.js";
import { generatePassword, scramSha256Verifier } from "../vault/scram.js";
import { startPrivateCluster, type PrivateCluster } from "./support/postgres.js";

let cluster: PrivateCluster;
let superuser: pg.Client;
let serverLog: string;
let place: EphemeralPlace;
const roles = new EphemeralRoles();
const HOUR = 3_600_000;
// Every password handed out, checked against the server log at the end.
const issued: string[] = [];

async function connectAs(user: string, password: string, port = cluster.port): Promise<pg.Client> {
  const client = new pg.Client({ host: "127.0.0.1", port, database: "postgres", user, password, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

async function loginError(user: string, password: string): Promise<string | null> {
  try {
    const client = await connectAs(user, password);
    await client.query("SELECT 1");
    await client.end();
    return null;
  } catch (err) {
    return String((err as { code?: unknown }).code ?? (err as Error).message);
  }
}

async function roleRow(role: string): Promise<{ rolvaliduntil: Date | null; rolconnlimit: number; comment: string | null } | undefined> {
  const { rows } = await superuser.query<{ rolvaliduntil: Date | null; rolconnlimit: number; comment: string | null }>(
    "SELECT rolvaliduntil, rolconnlimit, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
    [role],
  );
  return rows[0];
}

async function expectVaultError(p: Promise<unknown>, code: string): Promise<VaultError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VaultError);
  expect((err as VaultError).code).toBe(code);
  return err as VaultError;
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

async function create(userName: string, over: { grantId?: string; memberOf?: string[]; validUntil?: Date; connectionLimit?: number } = {}) {
  const grantId = over.grantId ?? randomUUID();
  const validUntil = over.validUntil ?? new Date(Date.now() + HOUR);
  const made = await roles.create(place, { grantId, userName, memberOf: over.memberOf ?? ["readers"], validUntil, ...(over.connectionLimit === undefined ? {} : { connectionLimit: over.connectionLimit }) });
  issued.push(made.password.toString());
  return { ...made, grantId, validUntil, password: made.password.toString() };
}

beforeAll(async () => {
  const superuserPassword = generatePassword();
  cluster = await startPrivateCluster({ auth: "scram-sha-256", superuserPassword });
  superuser = new pg.Client({ connectionString: cluster.url });
  superuser.on("error", () => undefined);
  await superuser.connect();
  await superuser.query("ALTER SYSTEM SET log_statement = 'all'");
  await superuser.query("SELECT pg_reload_conf()");
  const [row] = (await superuser.query<{ data_directory: string }>("SHOW data_directory")).rows;
  // The cluster helper starts the server with `pg_ctl -l <dir>/log` beside the data directory.
  serverLog = join(dirname(row?.data_directory ?? ""), "log");

  // The gateway's account: CREATEROLE, not a superuser.
  const gatewayPassword = generatePassword();
  issued.push(gatewayPassword);
  await superuser.query(`CREATE ROLE gatekeeper LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral(scramSha256Verifier(gatewayPassword))}`);
  await superuser.query("CREATE ROLE readers NOLOGIN");
  await superuser.query("CREATE ROLE writers NOLOGIN");
  await superuser.query("GRANT CREATE, USAGE ON SCHEMA public TO writers");
  await superuser.query("CREATE TABLE invoices (id int PRIMARY KEY, amount numeric)");
  await superuser.query("INSERT INTO invoices VALUES (1, 10.5), (2, 99)");
  // Owned by another role, so a member of `readers` has exactly what was granted to it.
  await superuser.query("GRANT SELECT ON invoices TO readers");
  place = { target: { host: "127.0.0.1", port: cluster.port, database: "postgres" }, admin: { login: "gatekeeper", password: Buffer.from(gatewayPassword) } };
});

afterAll(async () => {
  await superuser?.end().catch(() => undefined);
  await cluster?.stop();
});

beforeEach(async () => {
  const { rows } = await superuser.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'jg\\_%'");
  for (const { rolname } of rows) {
    await superuser.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [rolname]);
    await superuser.query(`DROP OWNED BY ${pg.escapeIdentifier(rolname)}`);
    await superuser.query(`DROP ROLE ${pg.escapeIdentifier(rolname)}`);
  }
});

describe("ephemeralRoleName", () => {
  it("is jg_<user>_<first 12 hex of the grant>, sanitised and at most 63 characters", () => {
    expect(ephemeralRoleName("0f3a9c2e-71b4-4d5e-9a1b-2c3d4e5f6a7b", "alice")).toBe("jg_alice_0f3a9c2e71b4");
    expect(ephemeralRoleName("0F3A9C2E-71B4-4D5E-9A1B-2C3D4E5F6A7B", "Bob.O'Neil@Example.COM")).toBe("jg_bob_o_neil_example_com_0f3a9c2e71b4");
    expect(ephemeralRoleName("0f3a9c2e-71b4-4d5e-9a1b-2c3d4e5f6a7b", "\"; DROP ROLE postgres; --")).toBe("jg_drop_role_postgres_0f3a9c2e71b4");
    expect(ephemeralRoleName("0f3a9c2e-71b4-4d5e-9a1b-2c3d4e5f6a7b", "Ünïcødé")).toBe("jg_n_c_d_0f3a9c2e71b4");
    expect(ephemeralRoleName("0f3a9c2e-71b4-4d5e-9a1b-2c3d4e5f6a7b", "ßß")).toBe("jg_user_0f3a9c2e71b4");
    const long = ephemeralRoleName("0f3a9c2e-71b4-4d5e-9a1b-2c3d4e5f6a7b", "x".repeat(200));
    expect(long).toHaveLength(63);
    expect(long).toMatch(/^jg_x+_0f3a9c2e71b4$/);
    // Ids that are not hex still give a distinct 12-hex suffix.
    expect(ephemeralRoleName("grant-1", "alice")).toMatch(/^jg_alice_[0-9a-f]{12}$/);
    expect(ephemeralRoleName("grant-1", "alice")).not.toBe(ephemeralRoleName("grant-2", "alice"));
    expect(() => ephemeralRoleName("bad id", "alice")).toThrow(VaultError);
  });
});

describe("EphemeralRoles against PostgreSQL", () => {
  it("creates a role that logs in, expires at the grant's end and has its member roles' privileges", async () => {
    const made = await create("Alice", { connectionLimit: 3 });
    expect(made.role).toBe(ephemeralRoleName(made.grantId, "Alice"));
    expect(made.role).toMatch(/^jg_alice_[0-9a-f]{12}$/);
    expect(await loginError(made.role, made.password)).toBeNull();
    expect(await loginError(made.role, `${made.password}x`)).toBe("28P01");
    const row = await roleRow(made.role);
    expect(row?.rolvaliduntil?.getTime()).toBe(made.validUntil.getTime());
    expect(row?.rolconnlimit).toBe(3);
    expect(row?.comment).toBe(`jitgate ephemeral grant=${made.grantId} until=${made.validUntil.toISOString()}`);
    const client = await connectAs(made.role, made.password);
    try {
      const { rows } = await client.query<{ id: number }>("SELECT id FROM invoices ORDER BY id");
      expect(rows.map((r) => r.id)).toEqual([1, 2]);
      await expect(client.query("DELETE FROM invoices")).rejects.toMatchObject({ code: "42501" });
    } finally {
      await client.end();
    }
  });

  it("is idempotent per grant: a second create resets the password and the validity", async () => {
    const first = await create("alice");
    const later = new Date(Date.now() + 2 * HOUR);
    const second = await create("alice", { grantId: first.grantId, validUntil: later });
    expect(second.role).toBe(first.role);
    expect(await loginError(first.role, first.password)).toBe("28P01");
    expect(await loginError(second.role, second.password)).toBeNull();
    expect((await roleRow(first.role))?.rolvaliduntil?.getTime()).toBe(later.getTime());
    expect((await roleRow(first.role))?.comment).toContain(`until=${later.toISOString()}`);
  });

  it("serialises concurrent creates for one grant: one role, and the last password set is the one that works", async () => {
    const grantId = randomUUID();
    const made = await Promise.all([create("alice", { grantId }), create("alice", { grantId }), create("alice", { grantId })]);
    expect(new Set(made.map((m) => m.role)).size).toBe(1);
    const working = await Promise.all(made.map((m) => loginError(m.role, m.password)));
    expect(working.filter((w) => w === null)).toHaveLength(1);
  });

  it("refuses unknown member roles, naming them, and creates nothing", async () => {
    const grantId = randomUUID();
    const err = await expectVaultError(roles.create(place, { grantId, userName: "alice", memberOf: ["readers", "no_such_role"], validUntil: new Date(Date.now() + HOUR) }), "EPHEMERAL_MEMBER_UNKNOWN");
    expect(err.kind).toBe("invalid");
    expect(err.message).toContain('"no_such_role"');
    expect(err.message).not.toContain('"readers"');
    expect(await roleRow(ephemeralRoleName(grantId, "alice"))).toBeUndefined();
  });

  it("leaves alone a role of the same name that jitgate did not make", async () => {
    const grantId = randomUUID();
    const name = ephemeralRoleName(grantId, "alice");
    await superuser.query(`CREATE ROLE ${name} LOGIN`);
    const err = await expectVaultError(roles.create(place, { grantId, userName: "alice", memberOf: [], validUntil: new Date(Date.now() + HOUR) }), "EPHEMERAL_CONFLICT");
    expect(err.kind).toBe("conflict");
    await expectVaultError(roles.drop(place, { grantId, userName: "alice" }), "EPHEMERAL_CONFLICT");
    expect(await roleRow(name)).toMatchObject({ comment: null });
  });

  it("refuses a validity that has already passed, by the injected clock", async () => {
    const clock = { now: () => Date.now() + 2 * HOUR };
    const err = await expectVaultError(
      new EphemeralRoles({ clock }).create(place, { grantId: randomUUID(), userName: "alice", memberOf: [], validUntil: new Date(Date.now() + HOUR) }),
      "EPHEMERAL_INVALID_INPUT",
    );
    expect(err.message).toMatch(/not in the future/);
  });

  it("drop kills the role's open sessions and removes the role; a second drop has nothing to do", async () => {
    const made = await create("alice");
    const session = await connectAs(made.role, made.password);
    const other = await connectAs(made.role, made.password);
    try {
      await session.query("SELECT count(*) FROM invoices");
      await expect(roles.drop(place, { grantId: made.grantId, userName: "alice" })).resolves.toEqual({ dropped: true, terminated: 2 });
      await expect(session.query("SELECT 1")).rejects.toThrow();
      await expect(other.query("SELECT 1")).rejects.toThrow();
    } finally {
      await session.end().catch(() => undefined);
      await other.end().catch(() => undefined);
    }
    expect(await roleRow(made.role)).toBeUndefined();
    expect(await loginError(made.role, made.password)).toBe("28P01");
    await expect(roles.drop(place, { grantId: made.grantId, userName: "alice" })).resolves.toEqual({ dropped: false, terminated: 0 });
  });

  it("drops a role that created a table, and the table with it", async () => {
    const made = await create("carol", { memberOf: ["readers", "writers"] });
    const session = await connectAs(made.role, made.password);
    try {
      await session.query("CREATE TABLE scratch (note text)");
      await session.query("INSERT INTO scratch VALUES ('temporary work')");
    } finally {
      await session.end();
    }
    await expect(roles.drop(place, { grantId: made.grantId, userName: "carol" })).resolves.toEqual({ dropped: true, terminated: 0 });
    expect(await roleRow(made.role)).toBeUndefined();
    const { rows } = await superuser.query("SELECT 1 FROM pg_tables WHERE tablename = 'scratch'");
    expect(rows).toEqual([]);
    // Objects of others are untouched.
    expect((await superuser.query("SELECT count(*)::int AS n FROM invoices")).rows[0]).toEqual({ n: 2 });
  });

  it("says clearly why a role that owns objects in another database cannot be dropped, and leaves it unable to log in", async () => {
    await superuser.query("CREATE DATABASE elsewhere");
    const elsewhereUrl = new URL(cluster.url);
    elsewhereUrl.pathname = "/elsewhere";
    const there = new pg.Client({ connectionString: elsewhereUrl.toString() });
    there.on("error", () => undefined);
    await there.connect();
    try {
      await there.query("GRANT CREATE, USAGE ON SCHEMA public TO writers");
      const made = await create("frank", { memberOf: ["writers"] });
      const session = new pg.Client({ host: "127.0.0.1", port: cluster.port, database: "elsewhere", user: made.role, password: made.password });
      await session.connect();
      await session.query("CREATE TABLE left_behind (x int)");
      await session.end();
      const err = await expectVaultError(roles.drop(place, { grantId: made.grantId, userName: "frank" }), "EPHEMERAL_FAILED");
      expect(err.message).toMatch(/dropping ephemeral role jg_frank_[0-9a-f]{12} of grant \S+ on 127\.0\.0\.1:\d+\/postgres: drop failed: 2BP01 .*\(1 object in database elsewhere\); the role can no longer log in but still exists$/);
      expect(await loginError(made.role, made.password)).toBe("28000");
      await there.query(`DROP OWNED BY ${pg.escapeIdentifier(made.role)}`);
      await expect(roles.drop(place, { grantId: made.grantId, userName: "frank" })).resolves.toEqual({ dropped: true, terminated: 0 });
    } finally {
      await there.end();
      await superuser.query("DROP DATABASE elsewhere WITH (FORCE)");
    }
  });

  it("finds and drops roles of grants that are no longer open, and keeps the open ones", async () => {
    const open = await create("dave");
    const orphan = await create("erin");
    // A marker on a role whose name does not belong to the marked grant is not taken for ours.
    await superuser.query("CREATE ROLE jg_forged_000000000000");
    await superuser.query(`COMMENT ON ROLE jg_forged_000000000000 IS 'jitgate ephemeral grant=${randomUUID()} until=2030-01-01T00:00:00.000Z'`);
    const openIds = new Set([open.grantId]);
    const found = await roles.orphans(place, openIds);
    expect(found).toEqual([{ role: orphan.role, grantId: orphan.grantId, validUntil: orphan.validUntil }]);
    const session = await connectAs(orphan.role, orphan.password);
    try {
      const result = await roles.dropOrphans(place, openIds);
      expect(result).toEqual({ dropped: found, failed: [] });
      await expect(session.query("SELECT 1")).rejects.toThrow();
    } finally {
      await session.end().catch(() => undefined);
    }
    expect(await roleRow(orphan.role)).toBeUndefined();
    expect(await loginError(open.role, open.password)).toBeNull();
    expect(await roleRow("jg_forged_000000000000")).toBeDefined();
    expect(await roles.orphans(place, openIds)).toEqual([]);
    expect((await roles.orphans(place, new Set())).map((o) => o.role)).toEqual([open.role]);
  });

  it("fails promptly and clearly against a closed port", async () => {
    const port = await closedPort();
    const started = Date.now();
    const err = await expectVaultError(roles.create({ ...place, target: { ...place.target, port } }, { grantId: randomUUID(), userName: "alice", memberOf: [], validUntil: new Date(Date.now() + HOUR) }), "EPHEMERAL_FAILED");
    expect(Date.now() - started).toBeLessThan(5_500);
    expect(err.kind).toBe("unavailable");
    expect(err.message).toMatch(new RegExp(`creating ephemeral role jg_alice_[0-9a-f]{12} for grant \\S+ on 127\\.0\\.0\\.1:${port}/postgres: connect failed: ECONNREFUSED`));
  });

  it("gives up on a target that accepts TCP but never answers, within the timeout", async () => {
    const held: Socket[] = [];
    const silent: Server = createServer((s) => held.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const started = Date.now();
      const quick = new EphemeralRoles({ timeoutMs: 1_000 });
      const err = await expectVaultError(quick.orphans({ ...place, target: { ...place.target, port } }, new Set()), "EPHEMERAL_FAILED");
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(3_000);
      expect(err.message).toMatch(/listing ephemeral roles on 127\.0\.0\.1:\d+\/postgres: connect failed: .*timeout/);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("reports a refused admin login as forbidden without its password", async () => {
    const wrong = generatePassword();
    issued.push(wrong);
    const err = await expectVaultError(roles.drop({ ...place, admin: { login: "gatekeeper", password: Buffer.from(wrong) } }, { grantId: randomUUID(), userName: "alice" }), "EPHEMERAL_FAILED");
    expect(err.kind).toBe("forbidden");
    expect(err.message).toMatch(/connect failed: 28P01/);
    for (const p of issued) expect(err.message).not.toContain(p);
  });

  it("never let a password reach the server log, which did log every statement", async () => {
    const text = await readFile(serverLog, "utf8");
    expect(text).toMatch(/statement: CREATE ROLE "jg_alice_[0-9a-f]{12}" LOGIN PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(text).toMatch(/statement: ALTER ROLE "jg_alice_[0-9a-f]{12}" LOGIN PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(issued.length).toBeGreaterThan(8);
    for (const p of issued) expect(text).not.toContain(p);
  });
});
