// What every rotator does the same way whatever the target: one rotation per name at a
// time, reading the current value, writing the history without letting a history failure
// hide the outcome, and settling a pending version an interrupted rotation left behind.
import { VaultError, type VaultErrorKind } from "./errors.js";
import type { VaultClock } from "./ports.js";
import type { RotationEntry, RotationLog, RotationSecrets } from "./rotation-port.js";

/** One login tried with one password. */
export interface Attempt {
  ok: boolean;
  /** The target said the password is wrong, as opposed to not being reachable at all. */
  refused: boolean;
  kind: VaultErrorKind;
  detail: string;
}

export type RecoveryResult = { outcome: "clean" } | { outcome: "recovered" | "discarded"; version: number };

/** Turns an error into a kind and a message with every hidden value removed. */
export type Explain = (err: unknown, hidden: readonly string[]) => { kind: VaultErrorKind; detail: string };

export class RotationBook {
  readonly #chains = new Map<string, Promise<void>>();

  constructor(
    private readonly secrets: RotationSecrets,
    private readonly log: RotationLog,
    private readonly clock: VaultClock,
    private readonly explain: Explain,
    private readonly redact: (text: string, hidden: readonly string[]) => string,
  ) {}

  now(): Date {
    return new Date(this.clock.now());
  }

  /** Runs fn after every earlier call for the same name has finished. */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(name) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.then(() => undefined, () => undefined);
    this.#chains.set(name, tail);
    void tail.then(() => {
      if (this.#chains.get(name) === tail) this.#chains.delete(name);
    });
    return run;
  }

  async read(secretName: string): Promise<string> {
    const value = await this.secrets.current(secretName);
    try {
      return value.toString("utf8");
    } finally {
      value.fill(0);
    }
  }

  async discardQuietly(name: string, version: number, hidden: string[]): Promise<string> {
    try {
      await this.secrets.discard(name, version);
      return `version ${version} was discarded and the previous password stays current`;
    } catch (err) {
      return `version ${version} could not be discarded (${this.explain(err, hidden).detail}); recovery will settle it`;
    }
  }

  async record(entry: Omit<RotationEntry, "finishedAt">, hidden: string[]): Promise<void> {
    const error = entry.error === null ? null : this.redact(entry.error, hidden);
    await this.log.record({ ...entry, error, finishedAt: this.now() });
  }

  /** Records entry; a failure to record is returned as text, so it never hides the rotation's own outcome. */
  async recordQuietly(entry: Omit<RotationEntry, "finishedAt">, hidden: string[]): Promise<string | null> {
    try {
      await this.record(entry, hidden);
      return null;
    } catch (err) {
      return `the history entry could not be written: ${this.explain(err, hidden).detail}`;
    }
  }

  /**
   * Settles a pending version: kept if it logs in (the change reached the target), discarded
   * if the target refuses it but takes the current one, and left pending otherwise.
   */
  async recover(req: { name: string; actor: string; reason?: string }, where: string, attempt: (password: string) => Promise<Attempt>): Promise<RecoveryResult> {
    const { name, actor } = req;
    const pending = await this.secrets.pending(name);
    if (!pending) return { outcome: "clean" };
    const startedAt = this.now();
    const reason = req.reason ?? "settle an interrupted rotation";
    const { version } = pending;
    const candidate = pending.value.toString("utf8");
    pending.value.fill(0);
    const hidden = [candidate];
    let failure: { kind: VaultErrorKind; message: string };
    try {
      const withPending = await attempt(candidate);
      if (withPending.ok) {
        await this.secrets.promote(name, version);
        await this.record({ name, actor, reason, trigger: "recovery", outcome: "recovered", error: null, startedAt, version }, hidden);
        return { outcome: "recovered", version };
      }
      if (!withPending.refused) {
        failure = { kind: withPending.kind, message: `pending version ${version} of ${name} could not be tried (${where}): ${withPending.detail}; it stays pending` };
      } else {
        const current = await this.read(name);
        hidden.push(current);
        const withCurrent = await attempt(current);
        if (withCurrent.ok) {
          await this.secrets.discard(name, version);
          await this.record({ name, actor, reason, trigger: "recovery", outcome: "discarded", error: null, startedAt, version }, hidden);
          return { outcome: "discarded", version };
        }
        failure = {
          kind: withCurrent.kind,
          message: `neither pending version ${version} nor the current version of ${name} logs in (${where}): ${withCurrent.detail}; both are kept`,
        };
      }
    } catch (err) {
      const { kind, detail } = this.explain(err, hidden);
      failure = { kind, message: `recovering ${name} (${where}) failed: ${detail}` };
    }
    const history = await this.recordQuietly({ name, actor, reason, trigger: "recovery", outcome: "failed", error: failure.message, startedAt, version }, hidden);
    throw new VaultError("ROTATION_RECOVERY_FAILED", failure.kind, history ? `${failure.message}; ${history}` : failure.message);
  }
}
