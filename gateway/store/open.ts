import { join } from "node:path";
import type { Migration } from "../../policies/index.js";
import { migrate } from "./migrate.js";
import { openPglite } from "./pglite.js";
import { openPostgres } from "./postgres.js";
import type { Store } from "./store.js";

/** The configured store, migrated: PostgreSQL when a URL is given, else PGlite under dataDir. */
export async function openStore(opts: { url: string | null; dataDir: string }, migrations: Migration[]): Promise<Store> {
  const store = opts.url === null ? await openPglite(join(opts.dataDir, "pg")) : await openPostgres(opts.url);
  try {
    await migrate(store, migrations);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}
