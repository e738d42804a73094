// What the policies library needs from the outside world. The gateway hands in the
// implementations (PGlite or PostgreSQL, the system clock, the in-process or NATS bus).
import type { BusEvent, BusEventType } from "./bus-events.js";

export type SqlRow = Record<string, unknown>;

export interface SqlClient {
  query<R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs fn in one transaction; a nested call joins the outer one. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /** True on a served PostgreSQL shared by several nodes; false when embedded. */
  readonly shared: boolean;
}

export interface Clock {
  now(): number;
  /** Calls fn after ms milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type BusHandler<T extends BusEventType> = (event: Extract<BusEvent, { type: T }>) => void;

/**
 * Carries grant lifecycle facts between the parts of one node and, when served, between
 * nodes. Delivery is at-most-once (as NATS core is), so every consumer also has a
 * safety net: the expiry sweep re-reads the database.
 */
export interface EventBus {
  publish(event: BusEvent): Promise<void>;
  subscribe<T extends BusEventType>(type: T, handler: BusHandler<T>): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    // setTimeout caps at 2^31-1 ms; longer waits re-arm so a 30-day grant still ends on time.
    const MAX = 2_147_000_000;
    let handle: NodeJS.Timeout;
    let cancelled = false;
    const due = Date.now() + ms;
    const arm = () => {
      const left = due - Date.now();
      handle = setTimeout(() => {
        if (cancelled) return;
        if (due - Date.now() > 0 && left > MAX) arm();
        else fn();
      }, Math.max(0, Math.min(left, MAX)));
    };
    arm();
    return () => {
      cancelled = true;
      clearTimeout(handle);
    };
  },
};

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
