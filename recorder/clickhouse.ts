// The ClickHouse connection and the sink that stores batches in it. Embedded, chdb sits
// behind @clickhouse/client's connection option, so reads and schema are one code path for
// both; with a server URL the same client speaks HTTP.
//
// Inserts send a part's rows in its format (RowBinary or TabSeparated) with an
// insert_deduplication_token. Over HTTP the rows are the request body. Embedded, chdb parses
// a body passed inline several times slower than one read from a file, so the sink writes
// the rows to a file under the data directory and runs INSERT ... SELECT FROM file(): the
// same columns, rows and token, read from disk.
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { RecorderError } from "./errors.js";
import type { BatchPart, RecordSink } from "./ports.js";
import { columnsOf } from "./tables.js";

export interface ClickHouseHandle {
  client: ClickHouseClient;
  /** True for chdb in this process (one data directory per process). */
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * Clients of chdb in this process. chdb's connection turns an inline body into a string, which
 * would mangle RowBinary rows, so a sink over one sends its rows through files only.
 */
const EMBEDDED = new WeakSet<ClickHouseClient>();

/** A ClickHouse server at `url` (credentials may be in it), or chdb with its data in `path`. */
export async function openClickHouse(where: { url: string } | { path: string }): Promise<ClickHouseHandle> {
  if ("url" in where) {
    const client = createClient({ url: where.url, request_timeout: 30_000 });
    return { client, embedded: false, close: () => client.close() };
  }
  await mkdir(where.path, { recursive: true });
  // Loaded only when embedded: the library is large and a served setup never needs it.
  const { createChdbConnection } = await import("chdb/connection");
  // chdb types its connection against its own copy of @clickhouse/client-common: the same shape.
  type Connection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>["connection"]>;
  const client = createClient({ connection: createChdbConnection({ path: where.path }) as unknown as Connection });
  EMBEDDED.add(client);
  return { client, embedded: true, close: () => client.close() };
}

export interface ClickHouseSinkOptions {
  client: ClickHouseClient;
  database: string;
  /** A directory for the files chdb reads batches from: needed when embedded. Null sends rows inline. */
  localDir?: string | null;
}

// Errors about the rows themselves: retrying cannot help, splitting the part can.
const REFUSALS = new Set([
  "CANNOT_READ_ALL_DATA", "INCORRECT_DATA", "TYPE_MISMATCH", "TOO_LARGE_STRING_SIZE", "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
  "ARGUMENT_OUT_OF_BOUND", "INCORRECT_NUMBER_OF_COLUMNS", "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN", "ATTEMPT_TO_READ_AFTER_EOF",
  "ILLEGAL_COLUMN", "ILLEGAL_TYPE_OF_ARGUMENT", "INCORRECT_QUERY", "DECIMAL_OVERFLOW", "TOO_MANY_PARTITIONS", "BAD_ARGUMENTS",
]);

function refused(err: unknown): boolean {
  const type = (err as { type?: unknown }).type;
  return typeof type === "string" && (REFUSALS.has(type) || type.startsWith("CANNOT_PARSE"));
}

/**
 * What to say about a failure: ClickHouse's error name, never its message, which may quote
 * the rows (and so what someone typed); for a network failure, its message.
 */
export function cause(err: unknown): string {
  const e = err as { type?: unknown; code?: unknown; message?: unknown };
  if (typeof e.type === "string" && e.type !== "") return `${e.type}${typeof e.code === "string" || typeof e.code === "number" ? ` (code ${e.code})` : ""}`;
  return typeof e.message === "string" ? e.message.slice(0, 200) : String(err).slice(0, 200);
}

/** A ClickHouse string literal. */
export function literal(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export function clickHouseSink(opts: ClickHouseSinkOptions): RecordSink {
  const { client, database: db } = opts;
  const localDir = opts.localDir ?? null;
  if (localDir === null && EMBEDDED.has(client)) {
    throw new RecorderError("INVALID_QUERY", "an embedded ClickHouse takes recorded rows from files: give the sink a directory for them (localDir)");
  }
  let madeDir = false;
  const columns = (part: BatchPart) => columnsOf(part).map(([name]) => name).join(", ");
  const structure = (part: BatchPart) => columnsOf(part).map(([name, type]) => `${name} ${type}`).join(", ");

  async function inline(part: BatchPart): Promise<void> {
    const result = await client.exec({
      query: `INSERT INTO ${db}.${part.table} (${columns(part)}) FORMAT ${part.format}`,
      values: Readable.from([part.body], { objectMode: false }),
      clickhouse_settings: { insert_deduplication_token: part.token },
    });
    // The insert is stored when its response has ended, not when the response begins.
    await finished(result.stream.resume());
  }

  async function viaFile(dir: string, part: BatchPart): Promise<void> {
    if (!madeDir) {
      await mkdir(dir, { recursive: true });
      madeDir = true;
    }
    const path = join(dir, `${part.token.replace(/[^A-Za-z0-9_.-]/g, "_")}.rows`);
    await writeFile(path, part.body);
    try {
      // Literals, not query parameters: chdb runs parameterized queries one at a time in the
      // whole process, plain ones side by side, so a batch's tables are stored in parallel.
      // The settings are the query's own: chdb turns clickhouse_settings into SET statements
      // on its one session, where a token would outlive the insert and be taken by the next
      // one (a later insert into the table with the same token is dropped as a duplicate).
      await client.command({
        query: `INSERT INTO ${db}.${part.table} (${columns(part)}) SETTINGS insert_deduplication_token = ${literal(part.token)}, max_insert_threads = 1
                SELECT * FROM file(${literal(path)}, ${literal(part.format)}, ${literal(structure(part))})`,
      });
    } finally {
      await rm(path, { force: true });
    }
  }

  return {
    async insert(part) {
      try {
        await (localDir === null ? inline(part) : viaFile(localDir, part));
      } catch (err) {
        if (refused(err)) throw new RecorderError("BATCH_REFUSED", `ClickHouse refused ${part.rows} row(s) for ${part.table}: ${cause(err)}`, err);
        throw new RecorderError("UNAVAILABLE", `ClickHouse could not store ${part.rows} row(s) for ${part.table}: ${cause(err)}`, err);
      }
    },
  };
}
