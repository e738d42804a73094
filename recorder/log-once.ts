// Logs a fault once per cause until the cause clears, so a ClickHouse outage or a bad
// stream is one line, not one per event.
import type { RecorderLogger } from "./ports.js";

export class LogOnce {
  readonly logger: RecorderLogger;
  #seen = new Set<string>();

  constructor(logger: RecorderLogger) {
    this.logger = logger;
  }

  warn(cause: string, message: string, fields?: Record<string, unknown>): void {
    if (this.#seen.has(cause)) return;
    this.#seen.add(cause);
    this.logger.warn(message, fields);
  }

  error(cause: string, message: string, fields?: Record<string, unknown>): void {
    if (this.#seen.has(cause)) return;
    this.#seen.add(cause);
    this.logger.error(message, fields);
  }

  /** True when the cause had been logged; it may be logged again from now on. */
  clear(cause: string): boolean {
    return this.#seen.delete(cause);
  }
}
