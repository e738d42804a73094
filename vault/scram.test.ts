import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { VaultError } from "./errors.js";
import { SCRAM_VERIFIER_PATTERN, generatePassword, scramSha256Keys, scramSha256Verifier } from "./scram.js";

const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();

// The exchange of RFC 7677 section 3: user "user", password "pencil".
const RFC = {
  password: "pencil",
  salt: Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"),
  iterations: 4096,
  authMessage:
    "n=user,r=rOprNGfwEbeRWgbNEkqO," +
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  clientProof: "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverSignature: "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

function expectInvalid(fn: () => unknown, text: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VaultError);
    expect((err as VaultError).code).toBe("SCRAM_INVALID_INPUT");
    expect((err as VaultError).message).toMatch(text);
    return;
  }
  throw new Error("expected a VaultError");
}

describe("scramSha256Verifier", () => {
  it("derives the keys that reproduce the RFC 7677 exchange", () => {
    const keys = scramSha256Keys(RFC.password, { salt: RFC.salt, iterations: RFC.iterations });
    // The server's signature proves ServerKey; the client's proof, unmasked with StoredKey, proves StoredKey.
    expect(hmac(keys.serverKey, RFC.authMessage).toString("base64")).toBe(RFC.serverSignature);
    const signature = hmac(keys.storedKey, RFC.authMessage);
    const proof = Buffer.from(RFC.clientProof, "base64");
    const clientKey = Buffer.from(proof.map((b, i) => b ^ (signature[i] ?? 0)));
    expect(createHash("sha256").update(clientKey).digest().equals(keys.storedKey)).toBe(true);
  });

  it("writes PostgreSQL's stored form", () => {
    const v = scramSha256Verifier(RFC.password, { salt: RFC.salt, iterations: RFC.iterations });
    expect(v).toBe(
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
    );
    expect(v).toMatch(SCRAM_VERIFIER_PATTERN);
  });

  it("uses 4096 iterations and a fresh 16-byte salt by default", () => {
    const a = scramSha256Verifier("same password");
    const b = scramSha256Verifier("same password");
    expect(a).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(a).not.toBe(b);
    const salt = a.split("$")[1]?.split(":")[1] ?? "";
    expect(Buffer.from(salt, "base64")).toHaveLength(16);
    expect(a).toMatch(SCRAM_VERIFIER_PATTERN);
  });

  it("is deterministic for a fixed salt and iteration count", () => {
    const salt = Buffer.alloc(16, 7);
    expect(scramSha256Verifier("x", { salt, iterations: 10 })).toBe(scramSha256Verifier("x", { salt, iterations: 10 }));
    expect(scramSha256Verifier("x", { salt, iterations: 10 })).not.toBe(scramSha256Verifier("x", { salt, iterations: 11 }));
  });

  it("refuses what it cannot prepare like PostgreSQL would, without echoing the password", () => {
    expectInvalid(() => scramSha256Verifier("pässword"), /printable ASCII/);
    expectInvalid(() => scramSha256Verifier("tab\there"), /printable ASCII/);
    expectInvalid(() => scramSha256Verifier(""), /1 to 1024/);
    expectInvalid(() => scramSha256Verifier("a".repeat(1025)), /1 to 1024/);
    expectInvalid(() => scramSha256Verifier("ok", { iterations: 0 }), /iterations/);
    expectInvalid(() => scramSha256Verifier("ok", { iterations: 1.5 }), /iterations/);
    expectInvalid(() => scramSha256Verifier("ok", { salt: Buffer.alloc(0) }), /salt/);
    try {
      scramSha256Verifier("sëcret-value");
    } catch (err) {
      expect(String((err as Error).message)).not.toContain("sëcret");
    }
  });
});

describe("generatePassword", () => {
  it("is URL-safe, as long as its bytes ask, and different every time", () => {
    const a = generatePassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(generatePassword(48)).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(new Set(Array.from({ length: 50 }, () => generatePassword())).size).toBe(50);
    expect(() => scramSha256Verifier(a)).not.toThrow();
  });

  it("refuses weak or absurd lengths", () => {
    expectInvalid(() => generatePassword(8), /16 to 512/);
    expectInvalid(() => generatePassword(1.5), /16 to 512/);
  });
});
