// SCRAM-SHA-256 verifiers in PostgreSQL's stored form (RFC 5802 / RFC 7677), computed here so
// that `ALTER ROLE ... PASSWORD` carries a verifier and the plaintext never reaches the server.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { VaultError } from "./errors.js";

export const SCRAM_DEFAULT_ITERATIONS = 4096;
// PostgreSQL's own salt length (SCRAM_DEFAULT_SALT_LEN).
export const SCRAM_DEFAULT_SALT_BYTES = 16;
const MAX_PASSWORD_LENGTH = 1024;
const MAX_ITERATIONS = 10_000_000;

export interface ScramOptions {
  iterations?: number;
  salt?: Buffer;
}

export interface ScramKeys {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Matches exactly what scramSha256Verifier produces, so a caller can refuse anything else. */
export const SCRAM_VERIFIER_PATTERN = /^SCRAM-SHA-256\$[1-9][0-9]*:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/;

function invalid(message: string): VaultError {
  return new VaultError("SCRAM_INVALID_INPUT", "invalid", message);
}

// PostgreSQL and node-pg both pass a pure-ASCII password through SASLprep unchanged, so for
// ASCII the verifier is the same whichever side prepares it. Anything else would need a full
// SASLprep (RFC 4013) to match what clients send; the gateway never generates such passwords,
// so it refuses them. Control characters are refused too: no client can type them reliably and
// a NUL cannot travel in a libpq connection string at all.
function checkPassword(password: unknown): string {
  if (typeof password !== "string" || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
    throw invalid(`a password for a SCRAM verifier is 1 to ${MAX_PASSWORD_LENGTH} characters`);
  }
  if (!/^[\x20-\x7e]+$/.test(password)) {
    throw invalid("a password for a SCRAM verifier must be printable ASCII: SASLprep of other characters is not implemented");
  }
  return password;
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac("sha256", key).update(text, "utf8").digest();
}

/** The keys a SCRAM-SHA-256 server stores for password, with the given or default salt and iterations. */
export function scramSha256Keys(password: string, opts: ScramOptions = {}): ScramKeys {
  checkPassword(password);
  const iterations = opts.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw invalid(`SCRAM iterations are an integer from 1 to ${MAX_ITERATIONS}`);
  }
  const salt = opts.salt ?? randomBytes(SCRAM_DEFAULT_SALT_BYTES);
  if (!Buffer.isBuffer(salt) || salt.length === 0 || salt.length > 1024) throw invalid("a SCRAM salt is 1 to 1024 bytes");
  const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  try {
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    clientKey.fill(0);
    return { iterations, salt: Buffer.from(salt), storedKey, serverKey: hmac(salted, "Server Key") };
  } finally {
    salted.fill(0);
  }
}

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as in pg_authid.rolpassword. */
export function scramSha256Verifier(password: string, opts: ScramOptions = {}): string {
  const k = scramSha256Keys(password, opts);
  return `SCRAM-SHA-256$${k.iterations}:${k.salt.toString("base64")}$${k.storedKey.toString("base64")}:${k.serverKey.toString("base64")}`;
}

/** A random password of `bytes` random bytes, URL-safe base64 (so ASCII, no quoting needed anywhere). */
export function generatePassword(bytes = 24): string {
  if (!Number.isInteger(bytes) || bytes < 16 || bytes > 512) throw invalid("a generated password has 16 to 512 random bytes");
  return randomBytes(bytes).toString("base64url");
}
