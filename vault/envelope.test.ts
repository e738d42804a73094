import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { describeVersion, open, seal, secretAad, tryOpen } from "./envelope.js";
import { VaultError } from "./errors.js";

const key = randomBytes(32);
const secret = Buffer.from("s3cret-value-never-in-messages");
const aad = secretAad("value", "web-1/root", 3);
const what = describeVersion("web-1/root", 3);

function corruptError(fn: () => unknown): VaultError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VaultError);
    return err as VaultError;
  }
  throw new Error("expected a VaultError");
}

describe("envelope", () => {
  it("round-trips with a fresh IV each time", () => {
    const a = seal(secret, key, aad);
    const b = seal(secret, key, aad);
    expect(a.iv.equals(b.iv)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.iv).toHaveLength(12);
    expect(a.tag).toHaveLength(16);
    expect(open(a, key, aad, what).equals(secret)).toBe(true);
    expect(open(b, key, aad, what).equals(secret)).toBe(true);
  });

  it("never leaves the plaintext in the ciphertext", () => {
    const s = seal(secret, key, aad);
    expect(s.ciphertext.includes(secret)).toBe(false);
  });

  it("seals an empty plaintext", () => {
    const s = seal(Buffer.alloc(0), key, aad);
    expect(open(s, key, aad, what)).toHaveLength(0);
  });

  it.each([
    ["ciphertext", (s: ReturnType<typeof seal>) => (s.ciphertext[0]! ^= 1)],
    ["tag", (s: ReturnType<typeof seal>) => (s.tag[5]! ^= 0x80)],
    ["iv", (s: ReturnType<typeof seal>) => (s.iv[11]! ^= 1)],
  ])("a flipped bit in the %s fails as VAULT_CORRUPT naming the secret and version, not the value", (_part, flip) => {
    const s = seal(secret, key, aad);
    flip(s);
    const err = corruptError(() => open(s, key, aad, what));
    expect(err.code).toBe("VAULT_CORRUPT");
    expect(err.kind).toBe("corrupt");
    expect(err.message).toContain('secret "web-1/root" version 3');
    expect(err.message).not.toContain(secret.toString());
    expect(tryOpen(s, key, aad)).toBeNull();
  });

  it("binds the ciphertext to its secret name, version and part", () => {
    const s = seal(secret, key, aad);
    for (const other of [secretAad("value", "web-2/root", 3), secretAad("value", "web-1/root", 4), secretAad("data-key", "web-1/root", 3)]) {
      expect(corruptError(() => open(s, key, other, what)).code).toBe("VAULT_CORRUPT");
    }
  });

  it("fails under another key", () => {
    const s = seal(secret, key, aad);
    expect(tryOpen(s, randomBytes(32), aad)).toBeNull();
  });

  it("refuses a key that is not 32 bytes", () => {
    const err = corruptError(() => seal(secret, randomBytes(16), aad));
    expect(err.code).toBe("VAULT_BAD_KEY");
  });

  it("treats a truncated tag or IV as corrupt rather than throwing from node:crypto", () => {
    const s = seal(secret, key, aad);
    expect(tryOpen({ ...s, tag: s.tag.subarray(0, 4) }, key, aad)).toBeNull();
    expect(tryOpen({ ...s, iv: s.iv.subarray(0, 8) }, key, aad)).toBeNull();
  });

  it("keeps names with separators unambiguous in the AAD", () => {
    expect(secretAad("value", "a/b", 1)).not.toBe(secretAad("value", "a", 1));
    expect(secretAad("value", 'x","value', 1)).not.toBe(secretAad("value", "x", 1));
  });
});
