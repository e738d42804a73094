// What every rotator does the same way whatever the target: one rotation per name at a
// time, the two phases of a rotation (the new password stored as pending, the target
// changed, the password tried, then promoted), writing the history without letting a history
// failure hide the outcome, and settling a pending version an interrupted rotation left behind.
import { VaultError, type VaultErrorKind } from "./errors.js";
import type { VaultClock } from "./ports.js";
import type { RotationEntry, RotationLog, RotationSecrets, RotationTrigger } from "./rotation-port.js";
import { generatePassword } from "./scram.js";

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

/** A step of a rotation that failed with a verdict of its own (not an error thrown by a library). */
export class StepFailure extends Error {
  constructor(readonly kind: VaultErrorKind, readonly detail: string) {
    super(detail);
  }
}

/** Whether the target may have the new password: "unknown" once it was handed over and no verdict came back. */
export interface Applied {
  state: "no" | "unknown" | "yes";
}

/** An account on a target, as a rotator reaches it. */
export interface RotationTarget {
  /** The account and target, for messages: "role app on db.internal:5432/app". */
  account: string;
  /** A fresh login with the password. */
  attempt(password: string): Promise<Attempt>;
}

/** What one kind of target does in a rotation, between storing the new password and promoting it. */
export interface RotationChange extends RotationTarget {
  /** How the change logs in, when it says something: "through root". */
  how?: string;
  /**
   * Gives the target the new password. `step` names what it is doing (for the message when it
   * fails), `hide` adds a value no message may show, `applied` says whether the target may
   * have the password.
   */
  change(password: string, run: { step(name: string): void; hide(value: string): void; applied: Applied }): Promise<void>;
}

export function invalidRotation(message: string): VaultError {
  return new VaultError("ROTATION_INVALID_INPUT", "invalid", message);
}

// Messages come from the driver, the server and the store; none should carry a secret, but a
// value that slipped in anyway is cut out before it can reach a history row or an error.
export function redact(text: string, hidden: readonly string[]): string {
  let out = text;
  for (const h of hidden) if (h.length > 0) out = out.split(h).join("[redacted]");
  return out;
}

/** The kind and message of a StepFailure or a VaultError; null for anything else. */
export function explainKnown(err: unknown, hidden: readonly string[]): { kind: VaultErrorKind; detail: string } | null {
  if (err instanceof StepFailure) return { kind: err.kind, detail: redact(err.detail, hidden) };
  if (err instanceof VaultError) return { kind: err.kind, detail: redact(`${err.code}: ${err.message}`, hidden) };
  return null;
}

export class RotationBook {
  readonly #chains = new Map<string, Promise<void>>();

  constructor(
    private readonly secrets: RotationSecrets,
    private readonly log: RotationLog,
    private readonly clock: VaultClock,
    private readonly explain: Explain,
  ) {}

  now(): Date {
    return new Date(this.clock.now());
  }

  /** Runs fn after every earlier call for the same name has finished. */
  #exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(name) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.then(() => undefined, () => undefined);
    this.#chains.set(name, tail);
    void tail.then(() => {
      if (this.#chains.get(name) === tail) this.#chains.delete(name);
    });
    return run;
  }

  /**
   * One rotation of req.name on target: a new password stored as pending, given to the target,
   * tried, and promoted. On failure the pending version is discarded when the target cannot
   * have it and kept for recovery when it may; either way the history says what happened.
   */
  async rotate(req: { name: string; actor: string; reason: string; trigger: RotationTrigger; via?: { secretName: string } }, target: RotationChange): Promise<{ version: number }> {
    if (typeof req.reason !== "string" || req.reason.trim().length === 0) throw invalidRotation("a rotation needs a reason");
    if (req.via && req.via.secretName === req.name) throw invalidRotation("a rotator account's secret must not be the secret being rotated");
    return this.#exclusive(req.name, async () => {
      await this.#settle({ ...req, reason: `before rotation: ${req.reason}` }, target);
      return this.#rotateOnce(req, target);
    });
  }

  /** Settles a pending version left by an interrupted rotation: whichever password logs in is current. */
  async recover(req: { name: string; actor: string; reason?: string }, target: RotationTarget): Promise<RecoveryResult> {
    return this.#exclusive(req.name, () => this.#settle(req, target));
  }

  async #rotateOnce(req: { name: string; actor: string; reason: string; trigger: RotationTrigger }, target: RotationChange): Promise<{ version: number }> {
    const { name, actor, reason, trigger } = req;
    const startedAt = this.now();
    const password = generatePassword();
    const hidden = [password];
    let version: number | null = null;
    let step = "store";
    const applied: Applied = { state: "no" };
    try {
      version = await this.secrets.putPending(name, "password", Buffer.from(password, "utf8"), actor, reason);
      await target.change(password, { step: (s) => (step = s), hide: (v) => hidden.push(v), applied });
      step = "verify";
      const check = await target.attempt(password);
      if (!check.ok) throw new StepFailure(check.kind, check.detail);
      step = "promote";
      await this.secrets.promote(name, version);
    } catch (err) {
      const { kind, detail } = this.explain(err, hidden);
      let settled: string;
      if (version === null) settled = "nothing was stored";
      else if (applied.state === "no") settled = await this.discardQuietly(name, version, hidden);
      else settled = `version ${version} is kept pending because the target may already use it; recovery will settle it`;
      const message = `rotating ${name} (${target.account}${target.how ? `, ${target.how}` : ""}): ${step} failed: ${detail}; ${settled}`;
      const history = await this.recordQuietly({ name, actor, reason, trigger, outcome: "failed", error: message, startedAt, version }, hidden);
      throw new VaultError("ROTATION_FAILED", kind, history ? `${message}; ${history}` : message);
    }
    const history = await this.recordQuietly({ name, actor, reason, trigger, outcome: "rotated", error: null, startedAt, version }, hidden);
    if (history) throw new VaultError("ROTATION_HISTORY_FAILED", "unavailable", `rotated ${name} to version ${version}, but ${history}`);
    return { version };
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
    const error = entry.error === null ? null : redact(entry.error, hidden);
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
  async #settle(req: { name: string; actor: string; reason?: string }, target: RotationTarget): Promise<RecoveryResult> {
    const { name, actor } = req;
    const { account: where, attempt } = target;
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
