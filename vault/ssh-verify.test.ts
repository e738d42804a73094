import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VaultError } from "./errors.js";
import { fingerprint, parsePublicKeyLine } from "./ssh-keys.js";
import { SshWriter } from "./ssh-wire.js";
import { verifyUserCertificate, type VerifyUserCertificateOptions } from "./ssh-verify.js";

const dir = mkdtempSync(join(tmpdir(), "jitgate-ssh-verify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(args: string[]): string {
  return execFileSync("/usr/bin/ssh-keygen", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TZ: "UTC" } });
}

function newKey(name: string, type: string, bits?: number): Buffer {
  keygen(["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", name, "-f", join(dir, name)]);
  return parsePublicKeyLine(readFileSync(join(dir, `${name}.pub`), "utf8")).blob;
}

/** `ssh-keygen -s CA -I id ... user.pub`, returning the certificate line it wrote. */
function sign(caName: string, userName: string, args: string[]): string {
  keygen(["-q", "-s", join(dir, caName), ...args, join(dir, `${userName}.pub`)]);
  return readFileSync(join(dir, `${userName}-cert.pub`), "utf8");
}

function blobOf(line: string): Buffer {
  return Buffer.from(line.split(" ")[1]!, "base64");
}

function flipBit(bytes: Buffer, at: number): void {
  bytes.writeUInt8(bytes.readUInt8(at) ^ 1, at);
}

function refusal(fn: () => unknown): VaultError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(VaultError);
    return error as VaultError;
  }
  throw new Error("expected a refusal");
}

const caEd = newKey("ca-ed", "ed25519");
const caEc = newKey("ca-ec", "ecdsa", 521);
const caRsa = newKey("ca-rsa", "rsa", 3072);
const userEd = newKey("user-ed", "ed25519");
const userEc = newKey("user-ec", "ecdsa", 256);
const userRsa = newKey("user-rsa", "rsa", 2048);
const t2030 = Date.UTC(2030, 0, 1);

function opts(extra: Partial<VerifyUserCertificateOptions> = {}): VerifyUserCertificateOptions {
  return { trustedCaBlobs: [caEd, caEc, caRsa], now: Date.now(), principal: "alice", clientAddress: "127.0.0.1", ...extra };
}

describe("verifyUserCertificate with certificates from ssh-keygen", () => {
  it.each([
    ["ca-ed", caEd, "user-ed", userEd],
    ["ca-ec", caEc, "user-ec", userEc],
    ["ca-rsa", caRsa, "user-rsa", userRsa],
  ] as const)("accepts a certificate signed by %s for %s", (caName, caBlob, userName, userBlob) => {
    const line = sign(caName, userName, ["-I", `id-${userName}`, "-n", "alice,bob", "-V", "+1h", "-z", "77"]);
    const before = Date.now();
    const verified = verifyUserCertificate(line, opts({ trustedCaBlobs: [caBlob], principal: "bob" }));
    expect(verified.keyId).toBe(`id-${userName}`);
    expect(verified.serial).toBe(77n);
    expect(verified.principals).toEqual(["alice", "bob"]);
    expect(verified.validBefore).toBeGreaterThan(before + 3_500_000);
    expect(verified.validBefore).toBeLessThanOrEqual(before + 3_600_000);
    expect(verified.extensions).toEqual(["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc"]);
    expect(verified.forceCommand).toBeNull();
    expect(verified.publicKey.blob.equals(userBlob)).toBe(true);
    expect(verified.caFingerprint).toBe(fingerprint(caBlob));
    expect(verifyUserCertificate(blobOf(line), opts()).keyId).toBe(`id-${userName}`);
  });

  it("accepts rsa-sha2-256 and refuses ssh-rsa (SHA-1) signatures", () => {
    expect(verifyUserCertificate(sign("ca-rsa", "user-ed", ["-t", "rsa-sha2-256", "-I", "sha256", "-n", "alice", "-V", "+1h"]), opts()).keyId).toBe("sha256");
    const sha1 = sign("ca-rsa", "user-ed", ["-t", "ssh-rsa", "-I", "sha1", "-n", "alice", "-V", "+1h"]);
    const error = refusal(() => verifyUserCertificate(sha1, opts()));
    expect(error.code).toBe("CERT_SHA1_REFUSED");
    expect(error.message).toMatch(/rsa-sha2-512/);
  });

  it("enforces the validity window exactly, with no skew", () => {
    const line = sign("ca-ed", "user-ed", ["-I", "window", "-n", "alice", "-V", "20300101000000:20300101010000"]);
    expect(verifyUserCertificate(line, opts({ now: t2030 })).validAfter).toBe(t2030);
    expect(verifyUserCertificate(line, opts({ now: t2030 + 3_599_999 })).validBefore).toBe(t2030 + 3_600_000);
    expect(refusal(() => verifyUserCertificate(line, opts({ now: t2030 - 1 }))).code).toBe("CERT_NOT_YET_VALID");
    const expired = refusal(() => verifyUserCertificate(line, opts({ now: t2030 + 3_600_000 })));
    expect(expired.code).toBe("CERT_EXPIRED");
    expect(expired.message).toContain("2030-01-01T01:00:00.000Z");
    expect(refusal(() => verifyUserCertificate(sign("ca-ed", "user-ed", ["-I", "old", "-n", "alice", "-V", "20200101:20200102"]), opts())).code).toBe("CERT_EXPIRED");
    expect(refusal(() => verifyUserCertificate(sign("ca-ed", "user-ed", ["-I", "soon", "-n", "alice", "-V", "+1h:+2h"]), opts())).code).toBe("CERT_NOT_YET_VALID");
    const forever = verifyUserCertificate(sign("ca-ed", "user-ed", ["-I", "forever", "-n", "alice"]), opts());
    expect(forever.validBefore).toBe(Number.POSITIVE_INFINITY);
  });

  it("refuses a CA it does not trust, naming its fingerprint", () => {
    const line = sign("ca-ed", "user-ed", ["-I", "stranger", "-n", "alice", "-V", "+1h"]);
    const error = refusal(() => verifyUserCertificate(line, opts({ trustedCaBlobs: [caEc, caRsa] })));
    expect(error.code).toBe("CERT_UNTRUSTED_CA");
    expect(error.message).toContain(fingerprint(caEd));
    expect(refusal(() => verifyUserCertificate(line, opts({ trustedCaBlobs: [] }))).code).toBe("CERT_UNTRUSTED_CA");
  });

  it("refuses a principal the certificate does not list, and a certificate listing none", () => {
    const error = refusal(() => verifyUserCertificate(sign("ca-ed", "user-ed", ["-I", "p", "-n", "alice,bob", "-V", "+1h"]), opts({ principal: "root" })));
    expect(error.code).toBe("CERT_WRONG_PRINCIPAL");
    expect(error.message).toContain('"alice", "bob", not "root"');
    expect(refusal(() => verifyUserCertificate(sign("ca-ed", "user-ed", ["-I", "none", "-V", "+1h"]), opts())).code).toBe("CERT_WRONG_PRINCIPAL");
  });

  it("refuses a certificate for an RSA key under 2048 bits", () => {
    keygen(["-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", join(dir, "user-weak")]);
    expect(refusal(() => verifyUserCertificate(sign("ca-ed", "user-weak", ["-I", "weak", "-n", "alice", "-V", "+1h"]), opts())).code).toBe("SSH_WEAK_KEY");
  });

  it("refuses host certificates", () => {
    expect(refusal(() => verifyUserCertificate(sign("ca-ed", "user-ed", ["-h", "-I", "host", "-n", "alice", "-V", "+1h"]), opts())).code).toBe("CERT_NOT_USER");
  });

  it("refuses critical options it does not enforce", () => {
    for (const option of ["critical:foo=bar", "verify-required"]) {
      const error = refusal(() => verifyUserCertificate(sign("ca-ed", "user-ed", ["-I", "crit", "-n", "alice", "-V", "+1h", "-O", option]), opts()));
      expect(error.code).toBe("CERT_UNKNOWN_CRITICAL_OPTION");
    }
  });

  it("reports force-command to the caller", () => {
    const verified = verifyUserCertificate(sign("ca-ed", "user-ed", ["-I", "fc", "-n", "alice", "-V", "+1h", "-O", "force-command=/usr/bin/uptime -p"]), opts());
    expect(verified.forceCommand).toBe("/usr/bin/uptime -p");
  });

  it("enforces source-address for IPv4 and IPv6 clients", () => {
    const line = sign("ca-ed", "user-ed", ["-I", "src", "-n", "alice", "-V", "+1h", "-O", "source-address=10.0.0.0/8,2001:db8::/32,192.0.2.9"]);
    for (const ok of ["10.1.2.3", "::ffff:10.0.0.1", "2001:db8:1::7", "192.0.2.9"]) {
      expect(verifyUserCertificate(line, opts({ clientAddress: ok })).sourceAddress).toBe("10.0.0.0/8,2001:db8::/32,192.0.2.9");
    }
    for (const bad of ["192.0.2.10", "11.0.0.1", "2001:db9::1", "::1", null]) {
      expect(refusal(() => verifyUserCertificate(line, opts({ clientAddress: bad }))).code).toBe("CERT_SOURCE_ADDRESS");
    }
  });

  it("refuses a certificate altered after signing", () => {
    const blob = blobOf(sign("ca-ed", "user-ed", ["-I", "id-tamper", "-n", "alice", "-V", "+1h"]));
    const renamed = Buffer.from(blob);
    renamed[renamed.indexOf("id-tamper") + 3] = "T".charCodeAt(0);
    expect(refusal(() => verifyUserCertificate(renamed, opts())).code).toBe("CERT_BAD_SIGNATURE");
    const badSig = Buffer.from(blob);
    flipBit(badSig, badSig.length - 10);
    expect(refusal(() => verifyUserCertificate(badSig, opts())).code).toBe("CERT_BAD_SIGNATURE");
    const otherKey = Buffer.from(blob);
    flipBit(otherKey, otherKey.indexOf(caEd) + caEd.length - 1);
    expect(refusal(() => verifyUserCertificate(otherKey, opts())).code).toBe("CERT_UNTRUSTED_CA");
  });

  it("refuses a signature whose algorithm does not belong to the CA key", () => {
    const blob = blobOf(sign("ca-ed", "user-ed", ["-I", "alg", "-n", "alice", "-V", "+1h"]));
    const sigAt = blob.indexOf(caEd) + caEd.length;
    const ed25519Signature = blob.subarray(sigAt + 4 + 4 + "ssh-ed25519".length + 4);
    const relabelled = Buffer.concat([blob.subarray(0, sigAt), new SshWriter().string(new SshWriter().string("rsa-sha2-512").string(ed25519Signature).toBuffer()).toBuffer()]);
    expect(refusal(() => verifyUserCertificate(relabelled, opts())).code).toBe("CERT_BAD_SIGNATURE");
  });

  it("answers every truncation and random damage with a VaultError, never a crash", () => {
    const line = sign("ca-ec", "user-rsa", ["-I", "fuzz", "-n", "alice", "-V", "+1h", "-O", "source-address=10.0.0.0/8"]);
    const blob = blobOf(line);
    for (let cut = 0; cut < blob.length; cut++) {
      expect(refusal(() => verifyUserCertificate(blob.subarray(0, cut), opts())).code).toBe("SSH_MALFORMED");
    }
    expect(refusal(() => verifyUserCertificate(Buffer.concat([blob, Buffer.from([0])]), opts())).code).toBe("SSH_MALFORMED");
    for (let i = 0; i < 600; i++) {
      const damaged = Buffer.from(blob);
      const at = randomBytes(4).readUInt32BE(0) % damaged.length;
      damaged[at] = randomBytes(1)[0]!;
      if (damaged.equals(blob)) continue;
      refusal(() => verifyUserCertificate(damaged, opts({ clientAddress: "10.0.0.1" })));
    }
  });

  it("refuses lines that are not certificates or disagree with their content", () => {
    const line = sign("ca-ed", "user-ed", ["-I", "lines", "-n", "alice", "-V", "+1h"]);
    const [, b64] = line.split(" ");
    expect(refusal(() => verifyUserCertificate(`ssh-ed25519 ${b64}`, opts())).code).toBe("SSH_MALFORMED");
    expect(refusal(() => verifyUserCertificate(`ssh-rsa-cert-v01@openssh.com ${b64}`, opts())).code).toBe("SSH_MALFORMED");
    expect(refusal(() => verifyUserCertificate("ssh-ed25519-cert-v01@openssh.com !!!!", opts())).code).toBe("SSH_MALFORMED");
    expect(refusal(() => verifyUserCertificate("", opts())).code).toBe("SSH_MALFORMED");
    expect(refusal(() => verifyUserCertificate(Buffer.alloc(70_000), opts())).code).toBe("SSH_MALFORMED");
  });
});
