import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { migrations as controlPlane, type Logger, type Migration } from "../../policies/index.js";
import { migrate } from "./migrate.js";
import { openStore } from "./open.js";
import { openPglite } from "./pglite.js";
import { openPostgres } from "./postgres.js";
import { StoreError, type Store } from "./store.js";

// gateway/ may not import test/ (scripts/check-imports.mjs), so the throwaway database is
// made here from the admin URL that test/support/global-setup.ts provides.
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = inject("pgAdminUrl");
  const name = `store_test_${randomBytes(6).toString("hex")}`;
  const admin = await openPostgres(adminUrl, { max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.close();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const again = await openPostgres(adminUrl, { max: 1 });
      await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await again.close();
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const backends: { kind: Store["kind"]; fresh(): Promise<Store> }[] = [
  {
    kind: "pglite",
    async fresh() {
      const store = await openPglite(null);
      cleanups.push(() => store.close());
      return store;
    },
  },
  {
    kind: "postgres",
    async fresh() {
      const db = await freshDatabase();
      const store = await openPostgres(db.url);
      cleanups.push(db.drop, () => store.close());
      return store;
    },
  },
];

const testMigrations: Migration[] = [
  { id: "test-001-notes", sql: "CREATE TABLE notes (id int8 PRIMARY KEY, body text NOT NULL); CREATE INDEX notes_body ON notes (body);" },
  // Slow enough that concurrent runs overlap; fails if ever applied twice.
  { id: "test-002-tags", sql: "SELECT pg_sleep(0.2); CREATE TABLE tags (name text PRIMARY KEY);" },
];
const all = [...controlPlane, ...testMigrations];
const ids = all.map((m) => m.id);

const failure = (p: Promise<unknown>): Promise<StoreError> =>
  p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e as StoreError,
  );

const count = async (store: Store, table: string) =>
  Number((await store.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]?.n);

describe.each(backends)("$kind store", ({ kind, fresh }) => {
  let shared: Store;
  beforeAll(async () => {
    shared = await fresh();
    await migrate(shared, testMigrations);
    await shared.exec("CREATE TABLE typed (id int8 PRIMARY KEY, big int8, at timestamptz, doc jsonb, tags text[], nums int8[])");
  });

  it("applies each migration once and nothing on a second run", async () => {
    const store = await fresh();
    expect(store.kind).toBe(kind);
    expect(store.shared).toBe(kind === "postgres");
    expect(await migrate(store, all)).toEqual(ids);
    expect(await migrate(store, all)).toEqual([]);
    const rows = await store.query<{ id: string; applied_at: Date }>("SELECT id, applied_at FROM jitgate_migrations ORDER BY id");
    expect(rows.map((r) => r.id)).toEqual([...ids].sort());
    expect(rows[0]?.applied_at).toBeInstanceOf(Date);
    expect(await count(store, "users")).toBe(0);
  });

  it("applies each migration once when runs overlap", async () => {
    const store = await fresh();
    const runs = await Promise.all([migrate(store, all), migrate(store, all), migrate(store, all)]);
    expect(runs.flat().sort()).toEqual([...ids].sort());
    expect(await count(store, "jitgate_migrations")).toBe(ids.length);
  });

  it("refuses a database that a newer version migrated", async () => {
    const store = await fresh();
    await migrate(store, testMigrations);
    await store.query("INSERT INTO jitgate_migrations (id, applied_at) VALUES ('test-999-future', now())");
    const err = await failure(migrate(store, testMigrations));
    expect(err).toBeInstanceOf(StoreError);
    expect(err.code).toBe("STORE_MIGRATION_UNKNOWN");
    expect(err.message).toContain("test-999-future");
  });

  it("rolls back a failed migration and releases the lock", async () => {
    const store = await fresh();
    const broken: Migration = { id: "test-003-broken", sql: "CREATE TABLE half (id int); SELECT no_such_function();" };
    const err = await failure(migrate(store, [...testMigrations, broken]));
    expect(err.code).toBe("STORE_MIGRATION_FAILED");
    expect(err.message).toContain("test-003-broken");
    expect(await store.query("SELECT 1 FROM pg_tables WHERE tablename = 'half'")).toEqual([]);
    expect(await migrate(store, testMigrations)).toEqual([]);
    // pg_locks spans the server, where other test files hold locks of their own: look at this database only.
    expect(await store.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).toEqual([]);
  });

  it("rejects a migration list with a repeated id", async () => {
    await expect(migrate(shared, [...testMigrations, testMigrations[0]!])).rejects.toMatchObject({ code: "STORE_MIGRATION_LIST" });
  });

  it("rolls a transaction back when its function throws", async () => {
    const boom = new Error("boom");
    const before = await count(shared, "notes");
    await expect(
      shared.transaction(async (tx) => {
        await tx.query("INSERT INTO notes (id, body) VALUES (100, 'lost')");
        expect(await tx.query("SELECT id FROM notes WHERE id = 100")).toEqual([{ id: 100 }]);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await count(shared, "notes")).toBe(before);
  });

  it("joins a nested transaction to the outer one", async () => {
    const before = await count(shared, "notes");
    await shared.transaction(async (tx) => {
      await tx.query("INSERT INTO notes (id, body) VALUES (200, 'outer')");
      await tx.transaction(async (inner) => {
        expect(inner).toBe(tx);
        await inner.query("INSERT INTO notes (id, body) VALUES (201, 'inner')");
      });
    });
    expect(await count(shared, "notes")).toBe(before + 2);
    await expect(
      shared.transaction(async (tx) => {
        await tx.query("INSERT INTO notes (id, body) VALUES (202, 'outer')");
        await tx.transaction(async (inner) => {
          await inner.query("INSERT INTO notes (id, body) VALUES (203, 'inner')");
          throw new Error("inner fails");
        });
      }),
    ).rejects.toThrow("inner fails");
    expect(await count(shared, "notes")).toBe(before + 2);
  });

  it("returns int8 as number, timestamptz as Date, jsonb as object, arrays as arrays", async () => {
    const at = new Date("2024-01-02T03:04:05.678Z");
    await shared.query("INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6)", [1, 42, at, { a: [1, "b"], n: null }, ["x", "y"], [1, 2]]);
    await shared.query("INSERT INTO typed VALUES (2, 9007199254740993, NULL, NULL, '{}', NULL)");
    const rows = await shared.query("SELECT * FROM typed ORDER BY id");
    expect(rows[0]).toEqual({ id: 1, big: 42, at, doc: { a: [1, "b"], n: null }, tags: ["x", "y"], nums: [1, 2] });
    expect(rows[0]?.at).toBeInstanceOf(Date);
    // Beyond 2^53 a number would silently lose digits; both stores give a bigint instead.
    expect(rows[1]).toEqual({ id: 2, big: 9007199254740993n, at: null, doc: null, tags: [], nums: null });
    const [sum] = await shared.query("SELECT sum(id)::int8 AS total, count(*) AS n FROM typed");
    expect(sum).toEqual({ total: 3, n: 2 });
  });
});

describe("openStore", () => {
  it("keeps PGlite's data under <dataDir>/pg and migrates it", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "jitgate-store-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const first = await openStore({ url: null, dataDir }, testMigrations);
    expect(first.kind).toBe("pglite");
    await first.query("INSERT INTO notes (id, body) VALUES (1, 'kept')");
    await first.close();
    expect((await stat(join(dataDir, "pg"))).isDirectory()).toBe(true);
    const again = await openStore({ url: null, dataDir }, testMigrations);
    expect(await again.query("SELECT body FROM notes")).toEqual([{ body: "kept" }]);
    // The small buffer pool is the data directory's own setting, in effect from the first start.
    expect(await again.query("SHOW shared_buffers")).toEqual([{ shared_buffers: "32MB" }]);
    expect(await readFile(join(dataDir, "pg", "postgresql.auto.conf"), "utf8")).toContain("shared_buffers = '32MB'");
    await again.close();
  });

  it("refuses to start on a newer database and closes what it opened", async () => {
    const db = await freshDatabase();
    cleanups.push(db.drop);
    const store = await openStore({ url: db.url, dataDir: "/nonexistent" }, testMigrations);
    expect(store.kind).toBe("postgres");
    await store.close();
    await expect(openStore({ url: db.url, dataDir: "/nonexistent" }, testMigrations.slice(1))).rejects.toMatchObject({
      code: "STORE_MIGRATION_UNKNOWN",
    });
  });
});

describe("postgres store", () => {
  let url: string;
  beforeAll(async () => {
    const db = await freshDatabase();
    cleanups.push(db.drop);
    url = db.url;
  });

  it("applies each migration once when several nodes start together", async () => {
    const nodes = await Promise.all([openPostgres(url), openPostgres(url), openPostgres(url)]);
    try {
      const runs = await Promise.all(nodes.map((store) => migrate(store, all)));
      expect(runs.flat().sort()).toEqual([...ids].sort());
      expect(await count(nodes[0]!, "jitgate_migrations")).toBe(ids.length);
    } finally {
      await Promise.all(nodes.map((store) => store.close()));
    }
  });

  it("names host, port and database in a connection error, never the password", async () => {
    const secret = "Sup3r-Secret";
    const refused = await failure(openPostgres(`postgres://jit:${secret}@127.0.0.1:1/jitgate_db`));
    expect(refused.code).toBe("STORE_UNREACHABLE");
    expect(refused.message).toContain("127.0.0.1:1/jitgate_db");
    const missing = new URL(url);
    missing.password = secret;
    missing.pathname = "/no_such_database";
    const absent = await failure(openPostgres(missing.toString()));
    expect(absent.message).toContain(`${missing.hostname}:${missing.port}/no_such_database`);
    const invalid = await failure(openPostgres(`postgres://jit:${secret}@[::1/x`));
    expect(invalid.code).toBe("STORE_URL_INVALID");
    for (const err of [refused, absent, invalid]) {
      expect(err).toBeInstanceOf(StoreError);
      expect(`${err.message} ${err.stack} ${JSON.stringify(err)}`).not.toContain(secret);
    }
  });

  it("logs a dropped idle connection and carries on", async () => {
    const errors: Record<string, unknown>[] = [];
    const logger: Logger = { info() {}, warn() {}, error: (_m, fields) => errors.push(fields ?? {}) };
    const store = await openPostgres(url, { logger });
    cleanups.push(() => store.close());
    await store.query("SELECT 1");
    const admin = await openPostgres(url, { max: 1 });
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    await admin.close();
    for (let i = 0; i < 50 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(errors.length).toBeGreaterThan(0);
    expect(await store.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });

  it("survives the connection dying inside a transaction", async () => {
    const store = await openPostgres(url, { max: 1, logger: { info() {}, warn() {}, error() {} } });
    cleanups.push(() => store.close());
    await expect(store.transaction((tx) => tx.query("SELECT pg_terminate_backend(pg_backend_pid())"))).rejects.toThrow();
    expect(await store.query("SELECT 2 AS two")).toEqual([{ two: 2 }]);
  });
});
