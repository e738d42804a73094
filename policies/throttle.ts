// Login throttling kept in the database, so a guesser gains nothing by spreading attempts
// over the nodes of a cluster. Failures are counted per user name, known or not, so the
// delay does not reveal which names exist.
import { ControlError } from "./errors.js";
import type { Clock, SqlClient } from "./ports.js";

export interface ThrottlePolicy {
  /** Failures allowed before delays begin. */
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A quiet period after which the count starts again. */
  resetAfterMs: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = { freeFailures: 3, baseDelayMs: 1_000, maxDelayMs: 15 * 60_000, resetAfterMs: 60 * 60_000 };

/** The delay after the nth consecutive failure: none at first, then doubling up to the cap. */
export function delayAfter(failures: number, p: ThrottlePolicy): number {
  if (failures < p.freeFailures) return 0;
  const exp = Math.min(failures - p.freeFailures, 30);
  return Math.min(p.baseDelayMs * 2 ** exp, p.maxDelayMs);
}

export class LoginThrottle {
  constructor(
    private readonly sql: SqlClient,
    private readonly clock: Clock,
    private readonly policy: ThrottlePolicy = DEFAULT_THROTTLE,
  ) {}

  /**
   * Admits one attempt, or throws LOGIN_THROTTLED. The attempt counts as a failure from
   * here on, under a lock on the name's row, until success() clears it: guesses sent in
   * parallel must not all pass before any of them is counted.
   */
  async begin(name: string): Promise<void> {
    await this.sql.transaction(async (tx) => {
      // A first attempt needs a row to lock too, or concurrent first attempts would not queue.
      await tx.query("INSERT INTO login_failures (name, failures, last_failure_at) VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING", [
        name, new Date(this.clock.now()),
      ]);
      const rows = await tx.query<{ failures: number; last_failure_at: Date; blocked_until: Date | null }>(
        "SELECT failures, last_failure_at, blocked_until FROM login_failures WHERE name = $1 FOR UPDATE",
        [name],
      );
      const now = this.clock.now();
      const prev = rows[0];
      const wait = (prev?.blocked_until?.getTime() ?? 0) - now;
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        throw new ControlError("LOGIN_THROTTLED", "throttled", `too many failed logins for ${name}: try again in ${seconds}s`, { retryAfterSeconds: seconds });
      }
      const failures = prev && now - prev.last_failure_at.getTime() < this.policy.resetAfterMs ? prev.failures + 1 : 1;
      const delay = delayAfter(failures, this.policy);
      await tx.query("UPDATE login_failures SET failures = $2, last_failure_at = $3, blocked_until = $4 WHERE name = $1", [
        name, failures, new Date(now), delay > 0 ? new Date(now + delay) : null,
      ]);
    });
  }

  async success(tx: SqlClient, name: string): Promise<void> {
    await tx.query("DELETE FROM login_failures WHERE name = $1", [name]);
  }
}
