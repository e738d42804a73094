import pg from "pg";
import type { PoolClient, QueryResult } from "pg";
import type { Logger, SqlRow } from "../../policies/index.js";
import { StoreError, type ScriptClient, type Store } from "./store.js";

export interface PostgresOptions {
  max?: number;
  logger?: Logger;
  connectTimeoutMs?: number;
}

const consoleLogger: Logger = {
  info: (message, fields) => console.log(message, fields ?? ""),
  warn: (message, fields) => console.warn(message, fields ?? ""),
  error: (message, fields) => console.error(message, fields ?? ""),
};

interface Server {
  /** host:port/database, safe to show: it never carries the password. */
  label: string;
  scrub(text: string): string;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function describe(url: string): Server {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // URL's own error echoes its input, password included.
    throw new StoreError("STORE_URL_INVALID", "database.url is not a valid URL (expected postgres://user:password@host:port/database)");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new StoreError("STORE_URL_INVALID", `database.url must start with postgres:// (got ${parsed.protocol}//)`);
  }
  const host = parsed.searchParams.get("host") ?? (parsed.hostname || "localhost");
  const port = parsed.searchParams.get("port") ?? (parsed.port || "5432");
  const user = decode(parsed.username);
  const database = decode(parsed.pathname.slice(1)) || user || "postgres";
  const secrets = [parsed.password, decode(parsed.password)].filter((s) => s.length > 0);
  return {
    label: `${host}:${port}/${database}`,
    scrub: (text) => secrets.reduce((t, s) => t.split(s).join("***"), text),
  };
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Node reports a refused dual-stack connect as an AggregateError with an empty message.
  const code = (err as { code?: unknown }).code;
  const inner = err instanceof AggregateError ? err.errors.map(reason).join("; ") : "";
  return [err.message, inner, typeof code === "string" && !err.message.includes(code) ? code : ""]
    .filter((s) => s.length > 0)
    .join(": ") || err.name;
}

// An error the server sent about one statement leaves the connection usable; anything else
// (socket closed, protocol trouble, FATAL) means the connection must not go back to the pool.
function connectionBroken(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return true;
  return err.severity === "FATAL" || err.severity === "PANIC";
}

// Same JS values as PGlite: int8 is a number when it fits a safe integer, else a bigint.
function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

function deepMap(value: unknown, fn: (s: string) => unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => deepMap(v, fn));
  return typeof value === "string" ? fn(value) : value;
}

function typeParsers(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  const INT8 = 20;
  // pg-types' enum of builtins omits array OIDs, though its parsers cover them.
  const INT8_ARRAY = 1016 as Parameters<typeof pg.types.getTypeParser>[0];
  const int8Strings = pg.types.getTypeParser(INT8_ARRAY, "text");
  types.setTypeParser(INT8, "text", parseInt8);
  types.setTypeParser(INT8_ARRAY, "text", (text: string) => deepMap(int8Strings(text), parseInt8));
  return types;
}

function rowsOf<R extends SqlRow>(result: QueryResult | QueryResult[]): R[] {
  // A parameterless text may hold several statements; the last one's rows are the answer.
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  return (last?.rows ?? []) as R[];
}

// Connections that must not go back to the pool: a ROLLBACK failed on them, or they
// reported an error of their own while checked out.
const broken = new WeakSet<PoolClient>();

async function transactionOn<T>(client: PoolClient, fn: (tx: ScriptClient) => Promise<T>): Promise<T> {
  try {
    await client.query("BEGIN");
    const result = await fn(joined(client));
    await client.query("COMMIT");
    return result;
  } catch (err) {
    try {
      await client.query("ROLLBACK");
    } catch {
      broken.add(client);
    }
    throw err;
  }
}

function joined(client: PoolClient): ScriptClient {
  const tx: ScriptClient = {
    shared: true,
    query: async <R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]) =>
      rowsOf<R>(await client.query(text, params ? [...params] : undefined)),
    exec: async (script) => {
      await client.query(script);
    },
    transaction: (fn) => fn(tx),
  };
  return tx;
}

/** Opens a pool on a served PostgreSQL and checks that it answers. */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Store> {
  const server = describe(url);
  const logger = opts.logger ?? consoleLogger;
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    application_name: "jitgate",
    types: typeParsers(),
  });
  const logError = (err: unknown) =>
    logger.error("PostgreSQL connection error", { server: server.label, error: server.scrub(reason(err)) });
  // An idle connection that dies (server restart, failover) must not take the process down.
  pool.on("error", logError);

  const checkout = async (): Promise<PoolClient> => {
    try {
      return await pool.connect();
    } catch (err) {
      throw new StoreError("STORE_UNREACHABLE", `cannot connect to PostgreSQL at ${server.label}: ${server.scrub(reason(err))}`);
    }
  };

  // The pool stops listening for a client's errors while it is checked out; without a
  // listener of ours, a connection lost between two statements would crash the process.
  const withClient = async <T>(fn: (client: PoolClient) => Promise<T>, destroyOnError: (err: unknown) => boolean): Promise<T> => {
    const client = await checkout();
    const onError = (err: unknown) => {
      broken.add(client);
      logError(err);
    };
    client.on("error", onError);
    let destroy = false;
    try {
      return await fn(client);
    } catch (err) {
      destroy = destroyOnError(err);
      throw err;
    } finally {
      client.off("error", onError);
      client.release(destroy || broken.has(client) ? new Error("connection discarded") : undefined);
    }
  };

  try {
    (await checkout()).release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }

  const session = (client: PoolClient): ScriptClient => ({
    ...joined(client),
    transaction: (fn) => transactionOn(client, fn),
  });

  let closed = false;
  return {
    kind: "postgres",
    shared: true,
    query: <R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]) =>
      withClient((client) => joined(client).query<R>(text, params), connectionBroken),
    exec: (script) => withClient((client) => joined(client).exec(script), connectionBroken),
    transaction: (fn) => withClient((client) => transactionOn(client, fn), () => false),
    // Session state (advisory locks) must not outlive a run that failed half-way.
    pinned: (fn) => withClient((client) => fn(session(client)), () => true),
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
