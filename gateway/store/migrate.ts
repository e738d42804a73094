import type { Migration } from "../../policies/index.js";
import { StoreError, type ScriptClient, type Store } from "./store.js";

// One key for every node of every version: "jitgate" in ASCII, read as a big-endian integer.
const LOCK_KEY = "29952296202892389";

function checkList(migrations: Migration[]): void {
  const seen = new Set<string>();
  for (const m of migrations) {
    if (m.id.length === 0 || seen.has(m.id)) {
      throw new StoreError("STORE_MIGRATION_LIST", `migration id ${JSON.stringify(m.id)} is empty or listed twice`);
    }
    seen.add(m.id);
  }
}

async function applyOne(session: ScriptClient, m: Migration): Promise<boolean> {
  try {
    return await session.transaction(async (tx) => {
      // Two runs in one PGlite share a session, and a session's advisory lock is reentrant,
      // so the lock alone does not keep them apart: the row does.
      const done = await tx.query("SELECT 1 FROM jitgate_migrations WHERE id = $1", [m.id]);
      if (done.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query("INSERT INTO jitgate_migrations (id, applied_at) VALUES ($1, now())", [m.id]);
      return true;
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new StoreError("STORE_MIGRATION_FAILED", `migration ${m.id} failed: ${why}`, err);
  }
}

async function run(session: ScriptClient, migrations: Migration[]): Promise<string[]> {
  // Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL.
  await session.exec("CREATE TABLE IF NOT EXISTS jitgate_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL)");
  const rows = await session.query<{ id: string }>("SELECT id FROM jitgate_migrations ORDER BY applied_at, id");
  const known = new Set(migrations.map((m) => m.id));
  const unknown = rows.map((r) => r.id).filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new StoreError(
      "STORE_MIGRATION_UNKNOWN",
      `the database has migrations this version of jitgate does not know (${unknown.join(", ")}): ` +
        "a newer version has run against it. Run that version or newer; a database is never migrated back.",
    );
  }
  const done = new Set(rows.map((r) => r.id));
  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.id)) continue;
    if (await applyOne(session, m)) applied.push(m.id);
  }
  return applied;
}

/**
 * Brings the database up to this build's schema and returns the ids applied by this call.
 * Nodes starting together queue on an advisory lock, so each migration runs exactly once.
 */
export async function migrate(store: Store, migrations: Migration[]): Promise<string[]> {
  checkList(migrations);
  return store.pinned(async (session) => {
    await session.query(`SELECT pg_advisory_lock(${LOCK_KEY})`);
    let applied: string[];
    try {
      applied = await run(session, migrations);
    } catch (err) {
      // A failed run ends its pinned session, which releases the lock on a pool; PGlite
      // keeps its only session, so unlock explicitly.
      await session.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`).catch(() => undefined);
      throw err;
    }
    await session.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`);
    return applied;
  });
}
