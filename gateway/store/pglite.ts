import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { SqlRow } from "../../policies/index.js";
import type { ScriptClient, Store } from "./store.js";

// PGlite parses int8 to a number when it is a safe integer (a bigint otherwise), timestamptz
// to Date, jsonb to objects and arrays to arrays; openPostgres mirrors exactly that.

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

/** Opens the embedded database; dataDir null keeps it in memory. */
export async function openPglite(dataDir: string | null): Promise<Store> {
  if (dataDir !== null) await mkdir(dirname(dataDir), { recursive: true });
  const db = dataDir === null ? await PGlite.create() : await PGlite.create(dataDir);
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

  return {
    ...session,
    kind: "pglite",
    pinned: (fn) => fn(session),
    async close() {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
}
