// Rotating an account's password: the control plane says what the account is, the vault
// changes and verifies it, and the audit log records the outcome. One rotation per
// account at a time across every node sharing the store.
import { createHash } from "node:crypto";
import type { ControlPlane } from "../../policies/index.js";
import { PostgresRotator, RotationHistory, rotationSecrets, SshRotator, VaultError, type RotationEntry, type SecretStore } from "../../vault/index.js";
import { HttpError } from "../api/http-errors.js";
import { clusterLock } from "../store/cluster-lock.js";
import type { Store } from "../store/store.js";
import { secretName } from "./account-secrets.js";

export type RotationRequestTrigger = "on-demand" | "schedule" | "check-in";

/** The reason a check-in rotation records: it names the grant, so every node can tell it was done. */
export const checkInReason = (grantId: string) => `grant ${grantId} ended`;

export class Rotations {
  private readonly rotator: PostgresRotator;
  private readonly sshRotator: SshRotator;
  readonly history: RotationHistory;
  /** Per secret, the tail of this process's rotations: the cluster lock is no lock when embedded. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly cp: ControlPlane,
    private readonly secrets: SecretStore,
    private readonly store: Store,
  ) {
    this.history = new RotationHistory(store);
    this.rotator = new PostgresRotator({ secrets: rotationSecrets(secrets), log: this.history });
    this.sshRotator = new SshRotator({ secrets: rotationSecrets(secrets), log: this.history });
  }

  async rotate(actor: string, targetName: string, login: string, reason: string, trigger: RotationRequestTrigger = "on-demand"): Promise<RotationEntry> {
    const entry = await this.run(actor, targetName, login, reason, trigger, null);
    if (!entry) throw new Error(`rotation of ${secretName(targetName, login)} left no history`);
    return entry;
  }

  /**
   * A scheduled rotation: runs only if the password was last set before dueBefore, and no
   * scheduled attempt failed since retryBefore. Both are read again under the lock, so of
   * several nodes finding the account due, one rotates and the others return null.
   */
  rotateIfDue(actor: string, targetName: string, login: string, reason: string, dueBefore: Date, retryBefore: Date = dueBefore): Promise<RotationEntry | null> {
    const name = secretName(targetName, login);
    return this.run(actor, targetName, login, reason, "schedule", async () => {
      const since = await this.lastChange(targetName, login);
      if (since === null || since.getTime() > dueBefore.getTime()) return false;
      const [latest] = await this.history.list(name, 1);
      return !(latest && latest.trigger === "schedule" && latest.outcome === "failed" && latest.startedAt.getTime() > retryBefore.getTime());
    });
  }

  /**
   * The check-in after a grant ends: every node hears the end, the first to take the lock
   * rotates, and the others find its entry (rotated or failed) in the history and return null.
   */
  checkIn(actor: string, targetName: string, login: string, grantId: string): Promise<RotationEntry | null> {
    const name = secretName(targetName, login);
    const reason = checkInReason(grantId);
    return this.run(actor, targetName, login, reason, "check-in", async () => {
      const recent = await this.history.list(name, 200);
      return !recent.some((e) => e.trigger === "check-in" && e.reason === reason);
    });
  }

  /** When the account's current password was set (by a rotation or by an admin); null without one. */
  async lastChange(targetName: string, login: string): Promise<Date | null> {
    const name = secretName(targetName, login);
    if (!(await this.secrets.has(name))) return null;
    const current = (await this.secrets.versions(name)).find((v) => v.state === "current");
    return current ? current.createdAt : null;
  }

  private async run(
    actor: string,
    targetName: string,
    login: string,
    reason: string,
    trigger: RotationRequestTrigger,
    stillWanted: (() => Promise<boolean>) | null,
  ): Promise<RotationEntry | null> {
    const target = await this.cp.inventory.getTarget(targetName);
    const account = await this.cp.inventory.getAccount(targetName, login);
    if (target.kind !== "postgres" && target.kind !== "ssh") {
      throw new HttpError(400, "ROTATION_UNSUPPORTED", `rotating ${target.kind} accounts is not available yet; postgres and ssh accounts can be rotated`);
    }
    if (account.auth !== "password") throw new HttpError(400, "ROTATION_UNSUPPORTED", `${login}@${targetName} logs in with ${account.auth}, not a password: nothing to rotate`);
    const name = secretName(targetName, login);
    // Rotating over SSH logs in with the password the vault holds; without one there is nothing to change.
    if (target.kind === "ssh" && !(await this.secrets.has(name))) {
      throw new HttpError(400, "ROTATION_UNSUPPORTED", `${login}@${targetName} has no password in the vault: set one (accounts add --secret-stdin) before rotating it`);
    }
    const database = typeof account.options.database === "string" ? account.options.database : "postgres";
    const via = typeof account.options.rotateVia === "string" ? account.options.rotateVia : null;
    // An ssh account may pin the target's host key (option hostKey=LINE); any other key is refused.
    const hostKey = typeof account.options.hostKey === "string" && account.options.hostKey.trim() !== "" ? account.options.hostKey : null;
    const viaRef = via ? { via: { login: via, secretName: secretName(targetName, via) } } : {};
    let failure: unknown = null;
    let skipped = false;
    await this.locally(name, () =>
      clusterLock(this.store, lockKey(name), async () => {
        if (stillWanted && !(await stillWanted())) {
          skipped = true;
          return;
        }
        try {
          if (target.kind === "ssh") {
            await this.sshRotator.rotate({
              name, login, actor, reason, trigger,
              target: { host: target.host, port: target.port, ...(hostKey ? { hostKey } : {}) },
              ...viaRef,
            });
          } else {
            await this.rotator.rotate({
              name, login, actor, reason, trigger,
              target: { host: target.host, port: target.port, database },
              ...viaRef,
            });
          }
        } catch (err) {
          failure = err;
        }
      }),
    );
    if (skipped) return null;
    const outcome = failure ? "failed" : "rotated";
    await this.cp.deps.sql.transaction((tx) =>
      this.cp.audit.append(tx, { actor, target: targetName, type: "vault.rotated", data: { targetName, login, outcome, reason } }),
    );
    if (failure instanceof VaultError) {
      const status = failure.kind === "invalid" ? 400 : failure.kind === "not-found" ? 404 : failure.kind === "forbidden" ? 409 : 503;
      throw new HttpError(status, failure.code, failure.message);
    }
    if (failure) throw failure;
    const [latest] = await this.history.list(name, 1);
    return latest ?? null;
  }

  /** Runs fn after every earlier rotation of name in this process has settled. */
  private async locally<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.queues.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    }
  }
}

// Advisory lock keys are 64-bit; 48 bits of a hash of the name keep them safe JS integers.
function lockKey(name: string): number {
  return parseInt(createHash("sha256").update(`jitgate.rotate:${name}`).digest("hex").slice(0, 12), 16);
}
