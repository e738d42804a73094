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
 * Opens the embedded database; dataDir null keeps it in memory. `from`, a data directory that
 * dumpPglite wrote, starts an in-memory database as a copy of it, without PGlite's initdb.
 */
export async function openPglite(dataDir: string | null, from?: Blob): Promise<Store> {
  if (dataDir !== null) await mkdir(dirname(dataDir), { recursive: true });
  const db = dataDir === null ? await PGlite.create(from ? { loadDataDir: from } : {}) : await PGlite.create(dataDir);
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
