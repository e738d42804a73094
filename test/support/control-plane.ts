// A control plane on a real store (in-memory PGlite or a fresh database on the test
// PostgreSQL), for service-level tests that must hold on both.
import { createControlPlane, migrations, systemClock, type BusEvent, type Clock, type ControlPlane } from "../../policies/index.js";
import { readFileSync } from "node:fs";
import { MemoryBus } from "../../gateway/bus/memory-bus.js";
import { jsonLogger } from "../../gateway/logger.js";
import { migrate } from "../../gateway/store/migrate.js";
import { openPglite } from "../../gateway/store/pglite.js";
import { openPostgres } from "../../gateway/store/postgres.js";
import type { Store } from "../../gateway/store/store.js";
import { createTestDatabase } from "./postgres.js";

export type StoreKind = "pglite" | "postgres";
export const STORE_KINDS: StoreKind[] = ["pglite", "postgres"];

export interface TestControlPlane {
  cp: ControlPlane;
  store: Store;
  bus: MemoryBus;
  /** Every bus event published so far, in order. */
  events: BusEvent[];
  close(): Promise<void>;
}

export interface TestStore {
  store: Store;
  close(): Promise<void>;
}

// PGlite's initdb and the migrations take seconds: stores start as a copy of the migrated
// one global setup made (its dump beside the template directory).
let migratedPglite: Blob | null = null;
function migratedPgliteDump(): Blob {
  const template = process.env.JITGATE_TEST_PGLITE_TEMPLATE;
  if (!template) throw new Error("JITGATE_TEST_PGLITE_TEMPLATE is not set: run the tests through vitest, whose global setup makes it");
  return (migratedPglite ??= new Blob([readFileSync(`${template}.tar`)]));
}

export async function openTestStore(kind: StoreKind): Promise<TestStore> {
  if (kind === "pglite") {
    const store = await openPglite(null, migratedPgliteDump());
    await migrate(store, migrations);
    return { store, close: () => store.close() };
  }
  const db = await createTestDatabase("jg_cp");
  const store = await openPostgres(db.url, { max: 8 });
  await migrate(store, migrations);
  return {
    store,
    async close() {
      await store.close();
      await db.drop();
    },
  };
}

/** Builds a control plane over an open store; several may share one store (a restart, or two nodes). */
export function controlPlaneOn(store: Store, clock: Clock = systemClock, opts: { sweepIntervalMs?: number } = {}): TestControlPlane {
  const logger = jsonLogger("error");
  const bus = new MemoryBus(logger);
  const events: BusEvent[] = [];
  for (const type of ["grant.ended", "grant.scheduled", "user.changed"] as const) bus.subscribe(type, (e) => events.push(e));
  const cp = createControlPlane({ sql: store, clock, bus, logger }, { sessionTtlMs: 3600_000, sweepIntervalMs: opts.sweepIntervalMs ?? 60_000 });
  return { cp, store, bus, events, close: () => cp.expiry.stop() };
}

export async function openControlPlane(kind: StoreKind, clock: Clock = systemClock, opts: { sweepIntervalMs?: number } = {}): Promise<TestControlPlane> {
  const ts = await openTestStore(kind);
  const t = controlPlaneOn(ts.store, clock, opts);
  return {
    ...t,
    async close() {
      await t.close();
      await ts.close();
    },
  };
}
