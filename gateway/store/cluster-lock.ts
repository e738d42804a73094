// A lock across every node sharing the store, held on one connection while fn runs (the
// work inside may use other connections). On the embedded store there is one process only.
import type { Store } from "./store.js";

export async function clusterLock<T>(store: Store, key: number, fn: () => Promise<T>): Promise<T> {
  if (store.kind === "pglite") return fn();
  return store.pinned(async (session) => {
    await session.query(`SELECT pg_advisory_lock(${Math.trunc(key)})`);
    try {
      return await fn();
    } finally {
      await session.query(`SELECT pg_advisory_unlock(${Math.trunc(key)})`);
    }
  });
}
