// The recording schema in ClickHouse, applied by numbered migrations recorded in the
// database's own schema_migrations table. The same statements run embedded (chdb) and on a
// ClickHouse server. Retention is a TTL on each table from the session's start, so a
// session's rows expire together; changing it in the configuration alters the tables at the
// next start.
import type { ClickHouseClient } from "@clickhouse/client";
import { RecorderError } from "./errors.js";

export const DEFAULT_RETENTION_DAYS = 365;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Tables with a retention TTL. */
const RETAINED = ["sessions", "events", "chunks", "keyframes", "text"] as const;

const ttl = (days: number) => `TTL toDateTime(started_at) + INTERVAL ${days} DAY`;
// Remembered insert tokens: a batch replayed from the spool within this many blocks is dropped.
const DEDUP = "non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1";
const started = "start_ms Int64 EPHEMERAL, started_at DateTime64(3, 'UTC') DEFAULT fromUnixTimestamp64Milli(start_ms, 'UTC') CODEC(Delta, ZSTD(1))";
const at = "ts_ms Int64 EPHEMERAL, ts DateTime64(3, 'UTC') DEFAULT fromUnixTimestamp64Milli(ts_ms, 'UTC') CODEC(DoubleDelta, ZSTD(1))";

interface Migration {
  version: number;
  name: string;
  statements(db: string, days: number): string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "sessions, events, chunks, keyframes, text",
    statements: (db, days) => [
      `CREATE TABLE IF NOT EXISTS ${db}.sessions (
        session_id String,
        version UInt8,
        ${started},
        end_ms Int64 EPHEMERAL,
        ended_at Nullable(DateTime64(3, 'UTC')) DEFAULT if(end_ms = 0, NULL, fromUnixTimestamp64Milli(end_ms, 'UTC')),
        protocol LowCardinality(String),
        grant_id String,
        user_id String,
        user_name LowCardinality(String),
        target_id String,
        target_name LowCardinality(String),
        login LowCardinality(String),
        client_address String,
        node LowCardinality(String),
        redact_parameters UInt8,
        end_reason String,
        events UInt64,
        chunks UInt32,
        bytes_out UInt64,
        bytes_in UInt64,
        digest String,
        key_id String,
        signature String,
        v UInt8,
        INDEX session_idx session_id TYPE bloom_filter GRANULARITY 1
      ) ENGINE = ReplacingMergeTree(version)
      PARTITION BY toYYYYMM(started_at) ORDER BY (started_at, session_id) ${ttl(days)} SETTINGS ${DEDUP}`,
      `CREATE TABLE IF NOT EXISTS ${db}.events (
        session_id String CODEC(ZSTD(1)),
        seq UInt64 CODEC(Delta, ZSTD(1)),
        ${at},
        kind LowCardinality(String),
        channel UInt32 CODEC(ZSTD(1)),
        offset UInt64 CODEC(Delta, ZSTD(1)),
        b64 String EPHEMERAL,
        data String DEFAULT base64Decode(b64) CODEC(ZSTD(1)),
        meta String CODEC(ZSTD(1)),
        chunk UInt32 CODEC(Delta, ZSTD(1)),
        v UInt8 CODEC(ZSTD(1)),
        ${started}
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMM(started_at) ORDER BY (session_id, seq) ${ttl(days)} SETTINGS ${DEDUP}`,
      `CREATE TABLE IF NOT EXISTS ${db}.chunks (
        session_id String,
        chunk UInt32,
        first_seq UInt64,
        last_seq UInt64,
        events UInt32,
        prev String,
        hash String,
        ${at},
        ${started}
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMM(started_at) ORDER BY (session_id, chunk) ${ttl(days)} SETTINGS ${DEDUP}`,
      `CREATE TABLE IF NOT EXISTS ${db}.keyframes (
        session_id String,
        channel UInt32,
        offset UInt64 CODEC(Delta, ZSTD(1)),
        ${at},
        cols UInt16,
        rows UInt16,
        screen String CODEC(ZSTD(3)),
        ${started}
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMM(started_at) ORDER BY (session_id, channel, offset) ${ttl(days)} SETTINGS ${DEDUP}`,
      // Searched by time range and substring: no skipping index, since an n-gram bloom filter
      // doubled the cost of inserting these rows; a search reads the time range it asks for.
      `CREATE TABLE IF NOT EXISTS ${db}.text (
        ${at},
        session_id String,
        user_name LowCardinality(String),
        target_name LowCardinality(String),
        protocol LowCardinality(String),
        source LowCardinality(String),
        channel UInt32,
        offset UInt64,
        seq UInt64,
        line String CODEC(ZSTD(1)),
        ${started}
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMM(started_at) ORDER BY (ts, session_id) ${ttl(days)} SETTINGS ${DEDUP}`,
    ],
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

export function checkDatabaseName(db: string): string {
  if (!IDENT.test(db)) throw new RecorderError("INVALID_QUERY", `${JSON.stringify(db)} is not a usable ClickHouse database name: use letters, digits and _`);
  return db;
}

async function rows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await client.query({ query, query_params: params, format: "JSONEachRow" });
  return rs.json<T>();
}

/**
 * Brings the database to SCHEMA_VERSION: creates it, applies the migrations not yet
 * recorded, and sets every table's TTL to `retentionDays`. Safe to run on every start and by
 * several nodes at once (every statement is idempotent). Refuses a database whose schema is
 * newer than this program.
 */
export async function migrate(client: ClickHouseClient, db: string, retentionDays = DEFAULT_RETENTION_DAYS): Promise<{ applied: number[] }> {
  checkDatabaseName(db);
  if (!Number.isSafeInteger(retentionDays) || retentionDays < 1) {
    throw new RecorderError("INVALID_QUERY", `retention must be a whole number of days, at least 1 (got ${retentionDays})`);
  }
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
            ENGINE = ReplacingMergeTree ORDER BY version`,
  });
  const done = new Set((await rows<{ version: number | string }>(client, `SELECT DISTINCT version FROM ${db}.schema_migrations`)).map((r) => Number(r.version)));
  const newest = Math.max(0, ...done);
  if (newest > SCHEMA_VERSION) {
    throw new RecorderError("SCHEMA_TOO_NEW", `the recording database ${db} has schema version ${newest}, newer than this gateway's ${SCHEMA_VERSION}: upgrade the gateway`);
  }
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    for (const statement of m.statements(db, retentionDays)) await client.command({ query: statement });
    await client.insert({ table: `${db}.schema_migrations`, values: [{ version: m.version, name: m.name }], format: "JSONEachRow" });
    applied.push(m.version);
  }
  await tuneTables(client, db, retentionDays);
  return { applied };
}

/**
 * How parts are stored and merged, set on every recording table where the engine knows the
 * setting (an older server keeps its defaults). Both were measured under SSH bulk recording
 * (README, Recorder):
 * - `merge_selector_algorithm = 'Trivial'` merges ten parts of one level at a time, so a
 *   stored byte is rewritten about log10(parts) times. The default selector merged the one
 *   growing part with the next few small ones again and again: 2 GiB of output rewrote about
 *   12 GB in merges, against 4 GB with this.
 * - `min_bytes_for_wide_part` of 1 GiB keeps parts below it compact: a dozen files each
 *   instead of two per column. Making and removing files is a large share of an insert's
 *   cost on a file system whose inode allocation is slow under churn.
 */
export const TABLE_TUNING: Readonly<Record<string, string>> = {
  merge_selector_algorithm: "'Trivial'",
  min_bytes_for_wide_part: String(1 << 30),
};

/** The settings of TABLE_TUNING that a table's CREATE statement does not have yet, as "name = value" pairs. */
export function tuningMissing(createQuery: string, known: ReadonlySet<string>): string[] {
  return Object.entries(TABLE_TUNING)
    .filter(([name, value]) => known.has(name) && !createQuery.includes(`${name} = ${value}`))
    .map(([name, value]) => `${name} = ${value}`);
}

/** Sets every table's TTL to `days` and its TABLE_TUNING, each only where it differs. */
async function tuneTables(client: ClickHouseClient, db: string, days: number): Promise<void> {
  const found = await rows<{ name: string; create_table_query: string }>(
    client,
    "SELECT name, create_table_query FROM system.tables WHERE database = {db:String}",
    { db },
  );
  const known = new Set(
    (await rows<{ name: string }>(client, "SELECT name FROM system.merge_tree_settings WHERE name IN {names:Array(String)}", { names: Object.keys(TABLE_TUNING) }))
      .map((r) => r.name),
  );
  for (const table of RETAINED) {
    const query = found.find((t) => t.name === table)?.create_table_query ?? "";
    const current = /toIntervalDay\((\d+)\)|INTERVAL (\d+) DAY/i.exec(query);
    if (!current || Number(current[1] ?? current[2]) !== days) await client.command({ query: `ALTER TABLE ${db}.${table} MODIFY ${ttl(days)}` });
    const missing = tuningMissing(query, known);
    if (missing.length > 0) await client.command({ query: `ALTER TABLE ${db}.${table} MODIFY SETTING ${missing.join(", ")}` });
  }
}
