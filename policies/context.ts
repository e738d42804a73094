import type { AuditLog } from "./audit-log.js";
import type { BusEvent } from "./bus-events.js";
import type { Clock, EventBus, Logger, SqlClient } from "./ports.js";

/** What every control-plane service is built from; the gateway assembles it once. */
export interface ControlDeps {
  sql: SqlClient;
  clock: Clock;
  bus: EventBus;
  logger: Logger;
  audit: AuditLog;
}

/** The acting identity of a call, as resolved from its token. */
export interface Actor {
  id: string;
  name: string;
  roles: string[];
  groups: string[];
}

export const SYSTEM = "system";

/**
 * Runs fn in a transaction and publishes the bus events it collected only after the
 * commit, so no node acts on a fact that was rolled back.
 */
export async function inTransaction<T>(deps: ControlDeps, fn: (tx: SqlClient, emit: (e: BusEvent) => void) => Promise<T>): Promise<T> {
  const events: BusEvent[] = [];
  const result = await deps.sql.transaction((tx) => fn(tx, (e) => events.push(e)));
  for (const event of events) {
    await deps.bus.publish(event).catch((err: unknown) => deps.logger.error("bus publish failed", { type: event.type, err: String(err) }));
  }
  return result;
}

export const iso = (ms: number | Date): string => new Date(ms).toISOString();
export const ms = (d: Date | string | number): number => (d instanceof Date ? d.getTime() : new Date(d).getTime());
