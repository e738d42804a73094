import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { SqlRow } from "../../policies/index.js";
import type { ScriptClient, Store } from "./store.js";

// PGlite parses int8 to a number when it is a safe integer (a bigint otherwise), timestamptz
// to Date, jsonb to objects and arrays to arrays; openPostgres mirrors exactly that.

const dumps = new WeakMap<Store, () => Promise<Blob>>();

/** The data directory of a store openPglite opened, for opening copies of it. */
export async function dumpPglite(store: Store): Promise<Blob> {
  const dump = dumps.get(store);
  if (!dump) throw new Error("dumpPglite: not a store openPglite opened");
  return dump();
}

type Queryable = Pick<PGlite, "query" | "exec"> | Transaction;

function txClient(tx: Transaction): ScriptClient {
  const client: ScriptClient = {
    shared: false,
    query: <R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]) => run<R>(tx, text, params),
    exec: async (script) => {
      await tx.exec(script);
    },
    // The outer transaction is the only one: a nested call runs inside it, on the same tx.
    transaction: (fn) => fn(client),
  };
  return client;
}

async function run<R extends SqlRow>(db: Queryable, text: string, params?: readonly unknown[]): Promise<R[]> {
  const result = await db.query<R>(text, params ? [...params] : undefined);
  return result.rows;
}

/**
 * PostgreSQL's default shared_buffers of 128 MB is memory PGlite keeps for the process's
 * life, for a database of grants and audit rows whose files the OS caches anyway: 32 MB cut
 * an idle PGlite from about 285 to 140 MiB resident. The setting is kept in the data
 * directory (ALTER SYSTEM, postgresql.auto.conf) and takes effect at a start, so the first
 * start sets it and opens again. The first instance, with the 700 MiB or so initdb used, is
 * then garbage, given back at V8's next full collection rather than kept for good.
 */
const SHARED_BUFFERS = "32MB";

async function withSmallBuffers(dataDir: string): Promise<PGlite> {
  const db = await PGlite.create(dataDir);
  const [row] = (await db.query<{ shared_buffers: string }>("SHOW shared_buffers")).rows;
  if (row?.shared_buffers === SHARED_BUFFERS) return db;
  await db.query(`ALTER SYSTEM SET shared_buffers = '${SHARED_BUFFERS}'`);
  await db.close();
  return PGlite.create(dataDir);
}

/**
 * Opens the embedded database; dataDir null keeps it in memory. `from`, a data directory that
 * dumpPglite wrote, starts an in-memory database as a copy of it, without PGlite's initdb.
 */
export async function openPglite(dataDir: string | null, from?: Blob): Promise<Store> {
  if (dataDir !== null) await mkdir(dirname(dataDir), { recursive: true });
  const db = dataDir === null ? await PGlite.create(from ? { loadDataDir: from } : {}) : await withSmallBuffers(dataDir);
  let closed = false;

  // PGlite is a single session: "pinned" needs nothing more than the database itself.
  const session: ScriptClient = {
    shared: false,
    query: <R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]) => run<R>(db, text, params),
    exec: async (script) => {
      await db.exec(script);
    },
    transaction: (fn) => db.transaction((tx) => fn(txClient(tx))),
  };

  const store: Store = {
    ...session,
    kind: "pglite",
    pinned: (fn) => fn(session),
    async close() {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
  dumps.set(store, () => db.dumpDataDir("none"));
  return store;
}
