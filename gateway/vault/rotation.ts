// Rotating an account's password: the control plane says what the account is, the vault
// changes and verifies it, and the audit log records the outcome. One rotation per
// account at a time across every node sharing the store.
import { createHash } from "node:crypto";
import type { ControlPlane } from "../../policies/index.js";
import { PostgresRotator, RotationHistory, rotationSecrets, VaultError, type RotationEntry, type SecretStore } from "../../vault/index.js";
import { HttpError } from "../api/http-errors.js";
import { clusterLock } from "../store/cluster-lock.js";
import type { Store } from "../store/store.js";
import { secretName } from "./account-secrets.js";

export class Rotations {
  private readonly rotator: PostgresRotator;
  readonly history: RotationHistory;

  constructor(
    private readonly cp: ControlPlane,
    secrets: SecretStore,
    private readonly store: Store,
  ) {
    this.history = new RotationHistory(store);
    this.rotator = new PostgresRotator({ secrets: rotationSecrets(secrets), log: this.history });
  }

  async rotate(actor: string, targetName: string, login: string, reason: string): Promise<RotationEntry> {
    const target = await this.cp.inventory.getTarget(targetName);
    const account = await this.cp.inventory.getAccount(targetName, login);
    if (target.kind !== "postgres") {
      throw new HttpError(400, "ROTATION_UNSUPPORTED", `rotating ${target.kind} accounts is not available yet; postgres accounts can be rotated`);
    }
    if (account.auth !== "password") throw new HttpError(400, "ROTATION_UNSUPPORTED", `${login}@${targetName} logs in with ${account.auth}, not a password: nothing to rotate`);
    const name = secretName(targetName, login);
    const database = typeof account.options.database === "string" ? account.options.database : "postgres";
    const via = typeof account.options.rotateVia === "string" ? account.options.rotateVia : null;
    let failure: unknown = null;
    await clusterLock(this.store, lockKey(name), async () => {
      try {
        await this.rotator.rotate({
          name, login, actor, reason, trigger: "on-demand",
          target: { host: target.host, port: target.port, database },
          ...(via ? { via: { login: via, secretName: secretName(targetName, via) } } : {}),
        });
      } catch (err) {
        failure = err;
      }
    });
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
    if (!latest) throw new Error(`rotation of ${name} left no history`);
    return latest;
  }
}

// Advisory lock keys are 64-bit; 48 bits of a hash of the name keep them safe JS integers.
function lockKey(name: string): number {
  return parseInt(createHash("sha256").update(`jitgate.rotate:${name}`).digest("hex").slice(0, 12), 16);
}
