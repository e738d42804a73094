// The key-encryption key: derived from a passphrase with argon2id or read from a key file.
// Its bytes live in one Buffer that close() wipes; only its metadata reaches the database.
import { Algorithm, Version, hashRaw } from "@node-rs/argon2";
import { randomBytes, randomUUID } from "node:crypto";
import { open as openFile } from "node:fs/promises";
import { KEY_BYTES, seal, tryOpen, type Sealed } from "./envelope.js";
import { VaultError } from "./errors.js";
import type { VaultClock, VaultSql } from "./ports.js";

export type KdfName = "argon2id" | "keyfile";
export type KekSource = { kind: "passphrase"; passphrase: string } | { kind: "keyfile"; path: string };

/** argon2id cost: memory in KiB, passes, lanes. Stored beside the salt, read back on every unlock. */
export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const DEFAULT_ARGON2: Argon2Params = { memoryCost: 64 * 1024, timeCost: 3, parallelism: 1 };
export const MIN_PASSPHRASE_LENGTH = 12;

export interface KekDeps {
  sql: VaultSql;
  clock: VaultClock;
}

/** Applies only when a new KEK is created; an existing one is always re-derived with its stored parameters. */
export interface KekOptions {
  argon2?: Argon2Params;
}

export interface KekInfo {
  id: string;
  kdf: KdfName;
  createdAt: Date;
}

export class Kek {
  readonly id: string;
  readonly kdf: KdfName;
  #key: Buffer | null;

  constructor(id: string, kdf: KdfName, key: Buffer) {
    if (key.length !== KEY_BYTES) throw new VaultError("VAULT_BAD_KEY", "invalid", `a KEK has ${KEY_BYTES} bytes, not ${key.length}`);
    this.id = id;
    this.kdf = kdf;
    this.#key = key;
  }

  get isOpen(): boolean {
    return this.#key !== null;
  }

  useKey<T>(fn: (key: Buffer) => T): T {
    if (this.#key === null) throw new VaultError("VAULT_LOCKED", "locked", `key-encryption key ${this.id} is closed`);
    return fn(this.#key);
  }

  close(): void {
    this.#key?.fill(0);
    this.#key = null;
  }
}

interface KekRow {
  id: string;
  kdf: string;
  kdf_params: unknown;
  salt: Uint8Array | null;
  verifier_iv: Uint8Array;
  verifier_tag: Uint8Array;
  verifier_ciphertext: Uint8Array;
  state: string;
  created_at: Date;
}

const VERIFIER_PLAINTEXT = Buffer.from("jitgate vault key check v1", "utf8");
const verifierAad = (id: string) => JSON.stringify(["jitgate.vault.v1", "kek-verifier", id]);
const buf = (u: Uint8Array) => Buffer.from(u);

function checkParams(p: unknown, what: string): Argon2Params {
  const o = (typeof p === "object" && p !== null ? p : {}) as Record<string, unknown>;
  const int = (v: unknown, lo: number, hi: number) => typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
  const ok = int(o.parallelism, 1, 255) && int(o.timeCost, 1, 1000) && int(o.memoryCost, 8 * Number(o.parallelism), 4 * 1024 * 1024);
  if (!ok) throw new VaultError("VAULT_KDF_PARAMS", "invalid", `${what}: argon2id parameters are out of range`);
  return { memoryCost: o.memoryCost as number, timeCost: o.timeCost as number, parallelism: o.parallelism as number };
}

function deriveFromPassphrase(passphrase: string, salt: Buffer, p: Argon2Params): Promise<Buffer> {
  // NFC so the same passphrase typed on another system derives the same key.
  return hashRaw(passphrase.normalize("NFC"), {
    algorithm: Algorithm.Argon2id,
    version: Version.V0x13,
    salt,
    memoryCost: p.memoryCost,
    timeCost: p.timeCost,
    parallelism: p.parallelism,
    outputLen: KEY_BYTES,
  });
}

/** Reads a 32-byte key, raw or base64, from a file that only its owner may access. */
export async function readKeyFile(path: string): Promise<Buffer> {
  let handle;
  try {
    handle = await openFile(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new VaultError("VAULT_KEY_FILE_UNREADABLE", "invalid", `key file ${path} cannot be opened (${code})`, err);
  }
  try {
    // fstat on the open handle: the file checked is the file read.
    const st = await handle.stat();
    if (!st.isFile()) throw new VaultError("VAULT_KEY_FILE_INVALID", "invalid", `key file ${path} is not a regular file`);
    if (process.platform !== "win32" && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      throw new VaultError(
        "VAULT_KEY_FILE_MODE",
        "invalid",
        `key file ${path} has mode ${mode}, so its group or others may read it; make it readable by its owner only (chmod 600)`,
      );
    }
    const raw = await handle.readFile();
    try {
      // Its own allocation, not a slice of the shared pool, so no other Buffer views the key.
      const key = Buffer.alloc(KEY_BYTES);
      if (raw.length === KEY_BYTES) {
        raw.copy(key);
        return key;
      }
      const text = raw.toString("latin1").trim();
      if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) && key.write(text, "base64") === KEY_BYTES && Buffer.byteLength(text, "base64") === KEY_BYTES) {
        return key;
      }
      key.fill(0);
      throw new VaultError("VAULT_KEY_FILE_INVALID", "invalid", `key file ${path} must hold exactly ${KEY_BYTES} bytes, raw or base64`);
    } finally {
      raw.fill(0);
    }
  } finally {
    await handle.close();
  }
}

interface Fresh {
  kek: Kek;
  params: (Argon2Params & { algorithm: "argon2id"; version: number; outputLen: number }) | null;
  salt: Buffer | null;
  verifier: Sealed;
}

async function createFresh(source: KekSource, opts: KekOptions): Promise<Fresh> {
  const id = `kek-${randomUUID()}`;
  let kek: Kek;
  let params: Fresh["params"] = null;
  let salt: Buffer | null = null;
  if (source.kind === "passphrase") {
    if (typeof source.passphrase !== "string" || source.passphrase.length < MIN_PASSPHRASE_LENGTH) {
      throw new VaultError("VAULT_WEAK_PASSPHRASE", "invalid", `a vault passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters`);
    }
    const p = checkParams(opts.argon2 ?? DEFAULT_ARGON2, "new KEK");
    salt = randomBytes(16);
    params = { algorithm: "argon2id", version: 0x13, outputLen: KEY_BYTES, ...p };
    kek = new Kek(id, "argon2id", await deriveFromPassphrase(source.passphrase, salt, p));
  } else {
    kek = new Kek(id, "keyfile", await readKeyFile(source.path));
  }
  const verifier = kek.useKey((key) => seal(VERIFIER_PLAINTEXT, key, verifierAad(id)));
  return { kek, params, salt, verifier };
}

async function insertFresh(deps: KekDeps, f: Fresh, state: "active" | "next"): Promise<void> {
  const now = new Date(deps.clock.now());
  await deps.sql.query(
    `INSERT INTO vault_keks (id, kdf, kdf_params, salt, verifier_iv, verifier_tag, verifier_ciphertext, state, created_at, activated_at)
     VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10)`,
    [f.kek.id, f.kek.kdf, f.params && JSON.stringify(f.params), f.salt, f.verifier.iv, f.verifier.tag, f.verifier.ciphertext, state, now, state === "active" ? now : null],
  );
}

async function rowIn(sql: VaultSql, state: "active" | "next"): Promise<KekRow | undefined> {
  const rows = await sql.query<KekRow & Record<string, unknown>>("SELECT * FROM vault_keks WHERE state = $1", [state]);
  return rows[0];
}

/** Re-derives the KEK a row describes; null when the source does not produce it. */
async function tryRow(row: KekRow, source: KekSource): Promise<Kek | null> {
  const wanted = source.kind === "passphrase" ? "argon2id" : "keyfile";
  if (row.kdf !== wanted) return null;
  let key: Buffer;
  if (source.kind === "passphrase") {
    if (row.salt === null) throw new VaultError("VAULT_CORRUPT", "corrupt", `key-encryption key ${row.id} has no salt`);
    key = await deriveFromPassphrase(source.passphrase, buf(row.salt), checkParams(row.kdf_params, `key-encryption key ${row.id}`));
  } else {
    key = await readKeyFile(source.path);
  }
  const verifier = { iv: buf(row.verifier_iv), tag: buf(row.verifier_tag), ciphertext: buf(row.verifier_ciphertext) };
  const check = tryOpen(verifier, key, verifierAad(row.id));
  if (check === null || !check.equals(VERIFIER_PLAINTEXT)) {
    key.fill(0);
    return null;
  }
  return new Kek(row.id, wanted, key);
}

function refused(row: KekRow, source: KekSource): VaultError {
  if (source.kind === "passphrase" && row.kdf !== "argon2id") {
    return new VaultError("VAULT_KEK_SOURCE_MISMATCH", "locked", "the vault is sealed with a key file, not a passphrase");
  }
  if (source.kind === "keyfile" && row.kdf !== "keyfile") {
    return new VaultError("VAULT_KEK_SOURCE_MISMATCH", "locked", "the vault is sealed with a passphrase, not a key file");
  }
  return source.kind === "passphrase"
    ? new VaultError("VAULT_BAD_PASSPHRASE", "locked", "wrong vault passphrase: the vault stays locked")
    : new VaultError("VAULT_BAD_KEY_FILE", "locked", `key file ${source.path} does not hold the vault's key: the vault stays locked`);
}

/**
 * Unlocks the vault's active KEK. On a database without one, creates it from the source
 * and records its metadata; later calls must give the same passphrase or key file.
 */
export async function unlockKek(deps: KekDeps, source: KekSource, opts: KekOptions = {}): Promise<Kek> {
  const row = await rowIn(deps.sql, "active");
  if (row) {
    const kek = await tryRow(row, source);
    if (kek === null) throw refused(row, source);
    return kek;
  }
  const fresh = await createFresh(source, opts);
  try {
    await insertFresh(deps, fresh, "active");
    return fresh.kek;
  } catch (err) {
    fresh.kek.close();
    // Another node initialised the vault first: its KEK is the one to open.
    const winner = await rowIn(deps.sql, "active");
    if (!winner) throw err;
    const kek = await tryRow(winner, source);
    if (kek === null) throw refused(winner, source);
    return kek;
  }
}

/**
 * The KEK to rekey to, recorded as 'next' before anything is wrapped under it. If an
 * interrupted rekey left a 'next' KEK, the same source resumes it.
 */
export async function prepareRekey(deps: KekDeps, source: KekSource, opts: KekOptions = {}): Promise<Kek> {
  if (!(await rowIn(deps.sql, "active"))) {
    throw new VaultError("VAULT_NOT_INITIALISED", "conflict", "the vault has no key-encryption key yet: unlock it once before a rekey");
  }
  const next = await rowIn(deps.sql, "next");
  if (next) {
    const resumed = await tryRow(next, source);
    if (resumed) return resumed;
    const used = await deps.sql.query("SELECT 1 FROM vault_secret_versions WHERE kek_id = $1 LIMIT 1", [next.id]);
    if (used.length > 0) {
      throw new VaultError(
        "VAULT_REKEY_IN_PROGRESS",
        "conflict",
        `an interrupted rekey to key-encryption key ${next.id} has data keys wrapped under it; finish it with that passphrase or key file`,
      );
    }
    await deps.sql.query("DELETE FROM vault_keks WHERE id = $1 AND state = 'next'", [next.id]);
  }
  const fresh = await createFresh(source, opts);
  try {
    await insertFresh(deps, fresh, "next");
  } catch (err) {
    fresh.kek.close();
    throw new VaultError("VAULT_REKEY_IN_PROGRESS", "conflict", "another rekey started at the same time", err);
  }
  return fresh.kek;
}

export async function kekStatus(sql: VaultSql): Promise<{ active: KekInfo | null; next: KekInfo | null }> {
  const info = (r: KekRow | undefined): KekInfo | null => (r ? { id: r.id, kdf: r.kdf as KdfName, createdAt: r.created_at } : null);
  return { active: info(await rowIn(sql, "active")), next: info(await rowIn(sql, "next")) };
}
