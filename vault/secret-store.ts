// Secrets, each version sealed under its own random data key, the data key wrapped under
// the KEK. Values exist in plaintext only in memory, in the Buffers handed in and out.
import { randomBytes, randomUUID } from "node:crypto";
import { KEY_BYTES, describeVersion, open, seal, secretAad, type Sealed } from "./envelope.js";
import { VaultError } from "./errors.js";
import type { Kek } from "./kek.js";
import type { VaultClock, VaultSql } from "./ports.js";

export type SecretKind = "password" | "private-key" | "token";
export type VersionState = "pending" | "current" | "retired" | "discarded";
export const SECRET_KINDS: readonly SecretKind[] = ["password", "private-key", "token"];
export const MAX_SECRET_BYTES = 64 * 1024;

export interface SecretVersionInfo {
  name: string;
  version: number;
  state: VersionState;
  kekId: string;
  createdAt: Date;
  createdBy: string;
  reason: string;
  stateChangedAt: Date;
}

export interface SecretStoreDeps {
  sql: VaultSql;
  clock: VaultClock;
}

export interface RekeyResult {
  kekId: string;
  rewrapped: number;
}

type VersionMeta = Omit<SecretVersionInfo, "name"> & Record<string, unknown>;

interface SealedRow {
  name: string;
  secret_id: string;
  version: number;
  kek_id: string;
  dek_iv: Uint8Array;
  dek_tag: Uint8Array;
  dek_ciphertext: Uint8Array;
  value_iv?: Uint8Array;
  value_tag?: Uint8Array;
  value_ciphertext?: Uint8Array;
}

const META = `v.version, v.state, v.kek_id AS "kekId", v.created_at AS "createdAt", v.created_by AS "createdBy", v.reason,
  v.state_changed_at AS "stateChangedAt"`;
const sealedFrom = (iv: Uint8Array, tag: Uint8Array, ct: Uint8Array): Sealed => ({ iv: Buffer.from(iv), tag: Buffer.from(tag), ciphertext: Buffer.from(ct) });

function invalid(code: string, message: string): VaultError {
  return new VaultError(code, "invalid", message);
}

function checkName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0 || name.length > 255 || name.trim() !== name || /[\u0000-\u001f\u007f]/.test(name)) {
    throw invalid("VAULT_INVALID_NAME", "a secret name is 1 to 255 characters, without control characters or surrounding spaces");
  }
  return name;
}

function checkText(what: string, v: unknown): string {
  if (typeof v !== "string" || v.trim().length === 0 || v.length > 1000) throw invalid("VAULT_INVALID_INPUT", `${what} is required (up to 1000 characters)`);
  return v;
}

function checkVersion(version: unknown): number {
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) throw invalid("VAULT_INVALID_INPUT", "a version is a positive integer");
  return version;
}

function notFound(name: string, version?: number): VaultError {
  const what = version === undefined ? `secret ${JSON.stringify(name)} has no current version` : `${describeVersion(name, version)} does not exist`;
  return new VaultError("VAULT_SECRET_NOT_FOUND", "not-found", what);
}

export class SecretStore {
  readonly #sql: VaultSql;
  readonly #clock: VaultClock;
  // Every KEK this store can unwrap with, by id: during a rekey both the old and the new.
  readonly #keks = new Map<string, Kek>();
  #writeKek: Kek;

  constructor(deps: SecretStoreDeps, kek: Kek) {
    this.#sql = deps.sql;
    this.#clock = deps.clock;
    this.#keks.set(kek.id, kek);
    this.#writeKek = kek;
  }

  /** Stores value as the new current version; the previous current one is retired. */
  put(name: string, kind: SecretKind, value: Buffer, actor: string, reason: string): Promise<SecretVersionInfo> {
    return this.#write(name, kind, value, actor, reason, "current");
  }

  /** Stores value as a pending version, for a rotation to apply and then promote or discard. */
  putPending(name: string, kind: SecretKind, value: Buffer, actor: string, reason: string): Promise<SecretVersionInfo> {
    return this.#write(name, kind, value, actor, reason, "pending");
  }

  promote(name: string, version: number): Promise<SecretVersionInfo> {
    return this.#settle(name, version, "current");
  }

  discard(name: string, version: number): Promise<SecretVersionInfo> {
    return this.#settle(name, version, "discarded");
  }

  /** The current value, decrypted in memory; the caller owns (and should wipe) the Buffer. */
  current(name: string): Promise<Buffer> {
    return this.#readWhere(name, "v.state = 'current'", [], () => notFound(name));
  }

  /** One version's value, whatever its state: an interrupted rotation resumes from its pending value. */
  read(name: string, version: number): Promise<Buffer> {
    return this.#readWhere(name, "v.version = $2", [checkVersion(version)], () => notFound(name, version));
  }

  /** Every version's metadata, oldest first; never a value. */
  async versions(name: string): Promise<SecretVersionInfo[]> {
    const rows = await this.#sql.query<VersionMeta>(
      `SELECT ${META} FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id WHERE s.name = $1 ORDER BY v.version`,
      [checkName(name)],
    );
    if (rows.length === 0) throw new VaultError("VAULT_SECRET_NOT_FOUND", "not-found", `secret ${JSON.stringify(name)} does not exist`);
    return rows.map((r) => ({ name, ...r }));
  }

  /** True when the secret has a current version (a pending one alone cannot be used). */
  async has(name: string): Promise<boolean> {
    const rows = await this.#sql.query(
      `SELECT 1 FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id WHERE s.name = $1 AND v.state = 'current'`,
      [checkName(name)],
    );
    return rows.length > 0;
  }

  /**
   * Re-wraps every data key under `next` (from prepareRekey), batch by batch, leaving value
   * ciphertexts alone, then makes it the active KEK. Reads keep working throughout: each
   * version is unwrapped with the KEK it records. On success the old KEKs are wiped; after a
   * failure both are kept and calling rekey again with the same KEK resumes.
   */
  async rekey(next: Kek, opts: { batchSize?: number } = {}): Promise<RekeyResult> {
    const batch = opts.batchSize ?? 200;
    if (!next.isOpen) throw new VaultError("VAULT_LOCKED", "locked", `key-encryption key ${next.id} is closed`);
    const rows = await this.#sql.query<{ state: string }>("SELECT state FROM vault_keks WHERE id = $1", [next.id]);
    if (rows[0]?.state !== "next") {
      throw new VaultError("VAULT_REKEY_NOT_PREPARED", "conflict", `key-encryption key ${next.id} is not the prepared rekey target (see prepareRekey)`);
    }
    this.#keks.set(next.id, next);
    this.#writeKek = next;
    let rewrapped = 0;
    for (let n = batch; n === batch; rewrapped += n) {
      n = await this.#sql.transaction((tx) => this.#rewrapBatch(tx, next, batch));
    }
    rewrapped += await this.#sql.transaction(async (tx) => {
      // Waits out writes that locked the old KEK's row, so none lands under it after the switch.
      await tx.query("SELECT id FROM vault_keks WHERE state IN ('active', 'next') ORDER BY id FOR UPDATE");
      let stragglers = 0;
      for (let n = batch; n === batch; stragglers += n) n = await this.#rewrapBatch(tx, next, batch);
      const now = new Date(this.#clock.now());
      await tx.query("UPDATE vault_keks SET state = 'retired', retired_at = $1 WHERE state = 'active'", [now]);
      await tx.query("UPDATE vault_keks SET state = 'active', activated_at = $1 WHERE id = $2", [now, next.id]);
      return stragglers;
    });
    for (const [id, kek] of this.#keks) {
      if (id === next.id) continue;
      kek.close();
      this.#keks.delete(id);
    }
    return { kekId: next.id, rewrapped };
  }

  /** Wipes every KEK this store holds; later calls fail with VAULT_LOCKED. */
  close(): void {
    for (const kek of this.#keks.values()) kek.close();
  }

  async #write(name: string, kind: SecretKind, value: Buffer, actor: string, reason: string, state: "current" | "pending"): Promise<SecretVersionInfo> {
    checkName(name);
    if (!SECRET_KINDS.includes(kind)) throw invalid("VAULT_INVALID_KIND", `a secret's kind is one of ${SECRET_KINDS.join(", ")}`);
    if (!Buffer.isBuffer(value) || value.length === 0 || value.length > MAX_SECRET_BYTES) {
      throw invalid("VAULT_INVALID_VALUE", `a secret value is 1 to ${MAX_SECRET_BYTES} bytes`);
    }
    checkText("actor", actor);
    checkText("reason", reason);
    const kek = this.#writeKek;
    return this.#sql.transaction(async (tx) => {
      const [k] = await tx.query<{ state: string }>("SELECT state FROM vault_keks WHERE id = $1 FOR SHARE", [kek.id]);
      if (k?.state !== "active" && k?.state !== "next") {
        throw new VaultError("VAULT_KEK_RETIRED", "locked", `key-encryption key ${kek.id} is no longer in use: the vault was rekeyed, unlock it with the new key`);
      }
      const now = new Date(this.#clock.now());
      await tx.query(
        "INSERT INTO vault_secrets (id, name, kind, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING",
        [randomUUID(), name, kind, now],
      );
      const [secret] = await tx.query<{ id: string; kind: string }>("SELECT id, kind FROM vault_secrets WHERE name = $1 FOR UPDATE", [name]);
      if (!secret) throw new VaultError("VAULT_SECRET_NOT_FOUND", "not-found", `secret ${JSON.stringify(name)} vanished while being written`);
      if (secret.kind !== kind) {
        throw new VaultError("VAULT_KIND_MISMATCH", "conflict", `secret ${JSON.stringify(name)} is a ${secret.kind}, not a ${kind}`);
      }
      const [top] = await tx.query<{ next: number; pending: number | null }>(
        "SELECT COALESCE(MAX(version), 0) + 1 AS next, MAX(version) FILTER (WHERE state = 'pending') AS pending FROM vault_secret_versions WHERE secret_id = $1",
        [secret.id],
      );
      if (state === "pending" && top?.pending != null) {
        throw new VaultError("VAULT_PENDING_EXISTS", "conflict", `${describeVersion(name, top.pending)} is still pending: promote or discard it first`);
      }
      const version = top?.next ?? 1;
      if (state === "current") {
        await tx.query("UPDATE vault_secret_versions SET state = 'retired', state_changed_at = $2 WHERE secret_id = $1 AND state = 'current'", [secret.id, now]);
      }
      const dek = randomBytes(KEY_BYTES);
      let sealedValue: Sealed;
      let sealedDek: Sealed;
      try {
        sealedValue = seal(value, dek, secretAad("value", name, version));
        sealedDek = kek.useKey((key) => seal(dek, key, secretAad("data-key", name, version)));
      } finally {
        dek.fill(0);
      }
      await tx.query(
        `INSERT INTO vault_secret_versions (secret_id, version, state, kek_id, dek_iv, dek_tag, dek_ciphertext,
           value_iv, value_tag, value_ciphertext, created_at, created_by, reason, state_changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $11)`,
        [secret.id, version, state, kek.id, sealedDek.iv, sealedDek.tag, sealedDek.ciphertext,
          sealedValue.iv, sealedValue.tag, sealedValue.ciphertext, now, actor, reason],
      );
      await tx.query("UPDATE vault_secrets SET updated_at = $2 WHERE id = $1", [secret.id, now]);
      return { name, version, state, kekId: kek.id, createdAt: now, createdBy: actor, reason, stateChangedAt: now };
    });
  }

  async #settle(name: string, version: number, to: "current" | "discarded"): Promise<SecretVersionInfo> {
    checkName(name);
    checkVersion(version);
    return this.#sql.transaction(async (tx) => {
      const [secret] = await tx.query<{ id: string }>("SELECT id FROM vault_secrets WHERE name = $1 FOR UPDATE", [name]);
      const [row] = secret
        ? await tx.query<{ state: string }>("SELECT state FROM vault_secret_versions WHERE secret_id = $1 AND version = $2", [secret.id, version])
        : [];
      if (!secret || !row) throw notFound(name, version);
      if (row.state !== "pending") {
        throw new VaultError("VAULT_NOT_PENDING", "conflict", `${describeVersion(name, version)} is ${row.state}, not pending`);
      }
      const now = new Date(this.#clock.now());
      if (to === "current") {
        await tx.query("UPDATE vault_secret_versions SET state = 'retired', state_changed_at = $2 WHERE secret_id = $1 AND state = 'current'", [secret.id, now]);
      }
      const [updated] = await tx.query<VersionMeta>(
        `UPDATE vault_secret_versions v SET state = $3, state_changed_at = $4 WHERE secret_id = $1 AND version = $2 RETURNING ${META}`,
        [secret.id, version, to, now],
      );
      await tx.query("UPDATE vault_secrets SET updated_at = $2 WHERE id = $1", [secret.id, now]);
      if (!updated) throw notFound(name, version);
      return { name, ...updated };
    });
  }

  async #readWhere(name: string, where: string, params: unknown[], missing: () => VaultError): Promise<Buffer> {
    const [row] = await this.#sql.query<SealedRow & Record<string, unknown>>(
      `SELECT s.name, v.* FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id WHERE s.name = $1 AND ${where}`,
      [checkName(name), ...params],
    );
    if (!row) throw missing();
    return this.#decrypt(row);
  }

  #unwrap(row: SealedRow): Buffer {
    const what = describeVersion(row.name, row.version);
    const kek = this.#keks.get(row.kek_id);
    if (!kek) {
      throw new VaultError("VAULT_KEK_UNAVAILABLE", "locked", `${what} is wrapped under key-encryption key ${row.kek_id}, which this vault is not unlocked with`);
    }
    const sealed = sealedFrom(row.dek_iv, row.dek_tag, row.dek_ciphertext);
    const dek = kek.useKey((key) => open(sealed, key, secretAad("data-key", row.name, row.version), `${what} (data key)`));
    if (dek.length !== KEY_BYTES) {
      dek.fill(0);
      throw new VaultError("VAULT_CORRUPT", "corrupt", `${what} (data key) has the wrong length`);
    }
    return dek;
  }

  #decrypt(row: SealedRow): Buffer {
    if (!row.value_iv || !row.value_tag || !row.value_ciphertext) throw new VaultError("VAULT_CORRUPT", "corrupt", `${describeVersion(row.name, row.version)} has no ciphertext`);
    const dek = this.#unwrap(row);
    try {
      return open(sealedFrom(row.value_iv, row.value_tag, row.value_ciphertext), dek, secretAad("value", row.name, row.version), describeVersion(row.name, row.version));
    } finally {
      dek.fill(0);
    }
  }

  async #rewrapBatch(tx: VaultSql, next: Kek, limit: number): Promise<number> {
    const rows = await tx.query<SealedRow & Record<string, unknown>>(
      `SELECT s.name, v.secret_id, v.version, v.kek_id, v.dek_iv, v.dek_tag, v.dek_ciphertext
         FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id
        WHERE v.kek_id <> $1 ORDER BY v.secret_id, v.version LIMIT $2 FOR UPDATE OF v`,
      [next.id, limit],
    );
    for (const row of rows) {
      const dek = this.#unwrap(row);
      let wrapped: Sealed;
      try {
        wrapped = next.useKey((key) => seal(dek, key, secretAad("data-key", row.name, row.version)));
      } finally {
        dek.fill(0);
      }
      await tx.query(
        "UPDATE vault_secret_versions SET kek_id = $3, dek_iv = $4, dek_tag = $5, dek_ciphertext = $6 WHERE secret_id = $1 AND version = $2",
        [row.secret_id, row.version, next.id, wrapped.iv, wrapped.tag, wrapped.ciphertext],
      );
    }
    return rows.length;
  }
}
