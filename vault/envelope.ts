// AES-256-GCM sealing for data keys, values and the KEK verifier. The AAD names what a
// ciphertext belongs to, so a row copied onto another secret or version fails its tag.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { VaultError } from "./errors.js";

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealed {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

export type SealedPart = "value" | "data-key";

/** The AAD of one part of one secret version; JSON keeps any name unambiguous. */
export function secretAad(part: SealedPart, secret: string, version: number): string {
  return JSON.stringify(["jitgate.vault.v1", part, secret, version]);
}

/** How an error names a secret version: its name and number, never anything it holds. */
export function describeVersion(secret: string, version: number): string {
  return `secret ${JSON.stringify(secret)} version ${version}`;
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) {
    throw new VaultError("VAULT_BAD_KEY", "invalid", `an AES-256-GCM key has ${KEY_BYTES} bytes, this one has ${key.length}`);
  }
}

export function seal(plaintext: Buffer, key: Buffer, aad: string): Sealed {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

/** Decrypts, or returns null when the key, the AAD or the bytes do not match. */
export function tryOpen(sealed: Sealed, key: Buffer, aad: string): Buffer | null {
  checkKey(key);
  if (sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) return null;
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(sealed.tag);
  const head = decipher.update(sealed.ciphertext);
  try {
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    // GCM releases bytes before the tag is checked; they are unauthenticated, so wipe them.
    head.fill(0);
    return null;
  }
}

/**
 * Decrypts or fails with VAULT_CORRUPT. `what` names the ciphertext in the message (a
 * secret's name and version, see describeVersion); the message never carries its bytes.
 */
export function open(sealed: Sealed, key: Buffer, aad: string, what: string): Buffer {
  const plain = tryOpen(sealed, key, aad);
  if (plain === null) {
    throw new VaultError(
      "VAULT_CORRUPT",
      "corrupt",
      `${what} failed its integrity check: the stored ciphertext was altered, moved from another secret, or wrapped under another key`,
    );
  }
  return plain;
}
