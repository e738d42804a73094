// Finds or starts the PostgreSQL that tests create their databases on, once per run, and
// makes the migrated embedded store that gateways the tests start begin from.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { migrate } from "../../gateway/store/migrate.js";
import { dumpPglite, openPglite } from "../../gateway/store/pglite.js";
import { migrations } from "../../policies/index.js";
import { acceptsConnections, startPrivateCluster, type PrivateCluster } from "./postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser URL on the test server's `postgres` database. */
    pgAdminUrl: string;
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

async function findServer(): Promise<{ url: string; cluster: PrivateCluster | null }> {
  const given = process.env.JITGATE_TEST_PG_URL;
  if (given) {
    if (!(await acceptsConnections(given))) throw new Error(`JITGATE_TEST_PG_URL (${redact(given)}) does not accept connections`);
    return { url: given, cluster: null };
  }
  // JITGATE_TEST_PG_PROBE_PORT lets a run skip the machine's server and prove the private path.
  const port = process.env.JITGATE_TEST_PG_PROBE_PORT ?? "5432";
  const local = `postgres://postgres@127.0.0.1:${port}/postgres`;
  if (await acceptsConnections(local)) return { url: local, cluster: null };
  const started = Date.now();
  const cluster = await startPrivateCluster({ auth: "trust" });
  console.log(`test PostgreSQL: nothing on 127.0.0.1:${port}, started a private cluster on port ${cluster.port} in ${Date.now() - started} ms`);
  return { url: cluster.url, cluster };
}

/**
 * An embedded store with every migration applied and nothing else, closed: as a data directory
 * (for gateway processes to copy) and as PGlite's dump of it (for in-memory stores to load).
 */
async function migratedPgliteDir(): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), "jg-pglite-template-")), "pg");
  const store = await openPglite(dir);
  try {
    await migrate(store, migrations);
    writeFileSync(`${dir}.tar`, Buffer.from(await (await dumpPglite(store)).arrayBuffer()));
  } finally {
    await store.close();
  }
  return dir;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const hadEnv = process.env.JITGATE_TEST_PG_URL !== undefined;
  const { url, cluster } = await findServer();
  project.provide("pgAdminUrl", url);
  // Workers are forked after global setup and inherit this, so helpers outside a test's
  // context (and child processes the tests spawn) find the server too.
  process.env.JITGATE_TEST_PG_URL = url;
  const template = await migratedPgliteDir();
  process.env.JITGATE_TEST_PGLITE_TEMPLATE = template;
  return async () => {
    if (!hadEnv) delete process.env.JITGATE_TEST_PG_URL;
    delete process.env.JITGATE_TEST_PGLITE_TEMPLATE;
    rmSync(join(template, ".."), { recursive: true, force: true });
    await cluster?.stop();
  };
}
