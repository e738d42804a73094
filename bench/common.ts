// What the benchmarks share: the stores they run on (a throwaway PGlite directory, and a
// scratch database on a served PostgreSQL when one is given), fast set-based seeding,
// percentiles, cleanup that also runs on Ctrl-C, and a stand-in for a ClickHouse server elsewhere.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { MemoryBus } from "../gateway/bus/memory-bus.js";
import { jsonLogger } from "../gateway/logger.js";
import { openStore } from "../gateway/store/open.js";
import type { Store } from "../gateway/store/store.js";
import { createControlPlane, migrations, systemClock, type ControlPlane, type SqlClient } from "../policies/index.js";

// ---------------------------------------------------------------- command line

export interface BenchArgs {
  /** Admin URL of a served PostgreSQL (a superuser's, to create the scratch database), or null. */
  pgUrl: string | null;
  /** Run only on PostgreSQL (needs pgUrl). */
  pgOnly: boolean;
  /** Other --name value pairs, for the benchmark's own options. */
  options: Map<string, string>;
}

export function parseArgs(argv: string[], usage: string): BenchArgs {
  let pgUrl = process.env.JITGATE_BENCH_PG_URL || null;
  let pgOnly = false;
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--help" || arg === "-h") {
      console.log(usage);
      process.exit(0);
    } else if (arg === "--pg-only") {
      pgOnly = true;
    } else if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) fail(`${arg} needs a value\n\n${usage}`);
      if (name === "pg") pgUrl = value;
      else options.set(name, value);
    } else {
      fail(`unexpected argument ${JSON.stringify(arg)}\n\n${usage}`);
    }
  }
  if (pgOnly && !pgUrl) fail(`--pg-only needs --pg URL (or JITGATE_BENCH_PG_URL)\n\n${usage}`);
  return { pgUrl, pgOnly, options };
}

export function intOption(args: BenchArgs, name: string, fallback: number): number {
  const raw = args.options.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) fail(`--${name} must be a positive integer (got ${JSON.stringify(raw)})`);
  return n;
}

/** The V8 setting every launcher of `jitgate serve` passes (README, "Node's heap"). */
export const SERVE_NODE_FLAGS = ["--initial-old-space-size=256"];

/**
 * Node's own arguments for a gateway process a benchmark starts: a CPU profile into the
 * directory given by --<profileOption> (none when null), and SERVE_NODE_FLAGS, or instead the
 * flags given by --node-flags ("" for none), to measure V8's settings on the same machine.
 */
export function gatewayNodeArgs(args: BenchArgs, profileOption: string | null): string[] {
  const dir = profileOption === null ? undefined : args.options.get(profileOption);
  const given = args.options.get("node-flags");
  const flags = given === undefined ? SERVE_NODE_FLAGS : given.split(/\s+/).filter(Boolean);
  return [...(dir ? ["--cpu-prof", "--cpu-prof-dir", resolve(dir)] : []), ...flags];
}

export function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exitCode = 1;
  throw new BenchFailure(message);
}

export class BenchFailure extends Error {}

// ---------------------------------------------------------------- stores and cleanup

const cleanups = new Set<() => Promise<void>>();

async function cleanAll(): Promise<void> {
  for (const c of [...cleanups].reverse()) {
    cleanups.delete(c);
    await c().catch((err: unknown) => console.error(`bench: cleanup failed: ${String(err)}`));
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\nbench: ${signal}, cleaning up`);
    void cleanAll().finally(() => process.exit(130));
  });
}

export interface BenchStore {
  /** "PGlite" or "PostgreSQL host:port". */
  label: string;
  store: Store;
  /** Closes the store and removes everything it left behind (directory or database). */
  close(): Promise<void>;
}

/** A migrated PGlite in a fresh temporary directory, removed on close. */
export async function openBenchPglite(): Promise<BenchStore> {
  const dir = await mkdtemp(join(tmpdir(), "jitgate-bench-"));
  return managed("PGlite (embedded, on disk)", () => openStore({ url: null, dataDir: dir }, migrations), () => rm(dir, { recursive: true, force: true }));
}

/** Opens a store whose scratch space `release` removes, on close, on failure, or on exit. */
async function managed(label: string, open: () => Promise<Store>, release: () => Promise<unknown>): Promise<BenchStore> {
  let store: Store;
  try {
    store = await open();
  } catch (err) {
    await release();
    throw err;
  }
  const close = async () => {
    cleanups.delete(close);
    try {
      await store.close();
    } finally {
      await release();
    }
  };
  cleanups.add(close);
  return { label, store, close };
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A migrated scratch database jitgate_bench_<random> on the server at adminUrl, dropped on close. */
export async function openBenchPostgres(adminUrl: string): Promise<BenchStore> {
  const name = `jitgate_bench_${randomBytes(6).toString("hex")}`;
  const url = new URL(adminUrl);
  const label = `PostgreSQL ${url.hostname}:${url.port || "5432"}`;
  await adminQuery(adminUrl, `CREATE DATABASE "${name}"`);
  const drop = () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  url.pathname = `/${name}`;
  return managed(`${label} (scratch database ${name})`, () => openStore({ url: url.toString(), dataDir: "" }, migrations), drop);
}

/** Runs body once per selected store, closing each before the next opens. */
export async function eachStore(args: BenchArgs, body: (s: BenchStore) => Promise<void>): Promise<void> {
  const openers: (() => Promise<BenchStore>)[] = [];
  if (!args.pgOnly) openers.push(openBenchPglite);
  const pgUrl = args.pgUrl;
  if (pgUrl) openers.push(() => openBenchPostgres(pgUrl));
  for (const open of openers) {
    const s = await open();
    try {
      await body(s);
    } finally {
      await s.close();
    }
  }
}

/** Runs a benchmark's main, cleaning up and setting the exit code whatever happens. */
export function main(run: () => Promise<void>): void {
  run()
    .catch((err: unknown) => {
      if (!(err instanceof BenchFailure)) console.error(err);
      process.exitCode = 1;
    })
    .finally(() => cleanAll());
}

// ---------------------------------------------------------------- control plane

export function benchControlPlane(sql: SqlClient): { cp: ControlPlane; bus: MemoryBus } {
  const logger = jsonLogger("error");
  const bus = new MemoryBus(logger);
  // A sweep an hour away: it must not run during a measurement.
  const cp = createControlPlane({ sql, clock: systemClock, bus, logger }, { sessionTtlMs: 3600_000, sweepIntervalMs: 3600_000 });
  return { cp, bus };
}

// ---------------------------------------------------------------- seeding

// Ids are md5 of a readable key cast to uuid, so every statement can compute the id of a
// row another statement made, with no round trip and no temporary table.
export const userName = (i: number) => `bench-user-${String(i).padStart(5, "0")}`;
export const targetName = (j: number) => `bench-target-${String(j).padStart(3, "0")}`;
/** The login every seeded grant is for. */
export const GRANT_LOGIN = "ops";
/** A login every target has an account for, and nobody a grant for. */
export const OTHER_LOGIN = "root";

export interface Inventory {
  /** Users 0..users-1 get grants. */
  users: number;
  /** Users users..users+idleUsers-1 exist but hold no grant. */
  idleUsers: number;
  targets: number;
}

/** Users, targets, and two accounts (GRANT_LOGIN, OTHER_LOGIN) on every target. */
export async function seedInventory(sql: SqlClient, inv: Inventory): Promise<void> {
  const now = new Date();
  await sql.query(
    `INSERT INTO users (id, name, roles, created_at, updated_at)
     SELECT md5('u-' || i)::uuid, 'bench-user-' || lpad(i::text, 5, '0'), ARRAY['requester'], $1, $1
     FROM generate_series(0, $2::int - 1) AS i`,
    [now, inv.users + inv.idleUsers],
  );
  await sql.query(
    `INSERT INTO targets (id, name, kind, host, port, created_at, updated_at)
     SELECT md5('t-' || j)::uuid, 'bench-target-' || lpad(j::text, 3, '0'), 'ssh', 'host-' || j || '.bench.invalid', 22, $1, $1
     FROM generate_series(0, $2::int - 1) AS j`,
    [now, inv.targets],
  );
  await sql.query(
    `INSERT INTO accounts (id, target_id, login, auth, created_at, updated_at)
     SELECT md5('a-' || j || '-' || l.login)::uuid, md5('t-' || j)::uuid, l.login, l.auth, $1, $1
     FROM generate_series(0, $2::int - 1) AS j,
          (VALUES ($3::text, 'password'), ($4::text, 'key')) AS l(login, auth)`,
    [now, inv.targets, GRANT_LOGIN, OTHER_LOGIN],
  );
}

export interface GrantBatch {
  /** Distinguishes the ids of one batch from another's. */
  tag: string;
  count: number;
  /** Grant k goes to pair k mod (users x targets): user pair / targets, target pair mod targets. */
  users: number;
  targets: number;
  notBefore: Date;
  /** Grant k ends at notAfter + floor(k * spreadMs / count) ms. */
  notAfter: Date;
  spreadMs: number;
  /** Set for grants that ended already (expired). */
  endedAt: Date | null;
}

/** One request row and one grant row per grant, in two INSERT ... SELECT statements. */
export async function seedGrants(sql: SqlClient, b: GrantBatch): Promise<void> {
  const now = new Date();
  const pair = `(k % ($3::int * $4::int))`;
  await sql.query(
    `INSERT INTO requests (id, user_id, target_id, login, duration_ms, reason, policy_name, policy_version,
                           approvals_required, state, created_at, expires_at, decided_at, decided_by)
     SELECT md5('r-' || $1 || '-' || k)::uuid, md5('u-' || (${pair} / $4::int))::uuid, md5('t-' || (${pair} % $4::int))::uuid,
            $5, 3600000, 'benchmark', 'bench-policy', 1, 0, 'approved', $6, $6::timestamptz + interval '1 hour', $6, 'system'
     FROM generate_series(0, $2::int - 1) AS k`,
    [b.tag, b.count, b.users, b.targets, GRANT_LOGIN, now],
  );
  await sql.query(
    `INSERT INTO grants (id, request_id, user_id, target_id, login, not_before, not_after, created_at, ended_at, end_reason, ended_by)
     SELECT md5('g-' || $1 || '-' || k)::uuid, md5('r-' || $1 || '-' || k)::uuid,
            md5('u-' || (${pair} / $4::int))::uuid, md5('t-' || (${pair} % $4::int))::uuid, $5,
            $6, $7::timestamptz + ((k::bigint * $8::int) / $2::int) * interval '1 millisecond', $9,
            $10::timestamptz, CASE WHEN $10::timestamptz IS NULL THEN NULL ELSE 'expired' END,
            CASE WHEN $10::timestamptz IS NULL THEN NULL ELSE 'system' END
     FROM generate_series(0, $2::int - 1) AS k`,
    [b.tag, b.count, b.users, b.targets, GRANT_LOGIN, b.notBefore, b.notAfter, b.spreadMs, now, b.endedAt],
  );
}

// ---------------------------------------------------------------- statistics

export interface Summary {
  count: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0, min: NaN, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
  return {
    count: sorted.length,
    min: sorted[0] as number,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted[sorted.length - 1] as number,
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
  };
}

/** The middle value; with an even count, the mean of the two middle ones (two rounds give their mean). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** A small seeded PRNG (mulberry32), so two runs draw the same lookups. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- recordings stored elsewhere

/**
 * Stands in for a ClickHouse server on another machine: answers every query and insert as a
 * server does and keeps nothing, so a gateway pointed at it does all of its own recording work
 * (rows, hash chain, terminal rendering, sending the inserts) without storing on this host.
 */
export async function nullClickHouse(): Promise<{ url: string; inserts(): number; close(): Promise<void> }> {
  let inserts = 0;
  const server = createServer((req, res) => {
    if (/INSERT/i.test(decodeURIComponent(req.url ?? ""))) inserts++;
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end(req.url?.startsWith("/ping") ? "Ok.\n" : ""));
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, inserts: () => inserts, close: () => new Promise((res) => server.close(() => res())) };
}
