import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VaultError } from "./errors.js";
import { SshCertificateAuthority, sshdConfigLines } from "./ssh-ca.js";
import { fingerprint } from "./ssh-keys.js";
import { verifyUserCertificate } from "./ssh-verify.js";

const dir = mkdtempSync(join(tmpdir(), "jitgate-ssh-ca-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(args: string[]): string {
  return execFileSync("/usr/bin/ssh-keygen", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TZ: "UTC" } });
}

function newKey(name: string, type = "ed25519"): string {
  keygen(["-q", "-t", type, "-N", "", "-C", name, "-f", join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), "utf8");
}

function listing(name: string, certLine: string): string {
  writeFileSync(join(dir, `${name}-cert.pub`), `${certLine}\n`);
  return keygen(["-L", "-f", join(dir, `${name}-cert.pub`)]);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(VaultError);
    return (error as VaultError).code;
  }
  return "accepted";
}

const now = Date.UTC(2030, 5, 1, 12, 0, 0, 500);
const notAfter = Date.UTC(2030, 5, 1, 14, 0, 0, 900);

describe("SshCertificateAuthority", () => {
  const { ca, privateKeyPem } = SshCertificateAuthority.generate({ now: () => now });
  const alice = newKey("alice", "ecdsa");

  it("issues a grant's certificate: key id naming user and grant, valid from 30 s ago to the grant's end", () => {
    const issued = ca.userCertificate({ publicKeyLine: alice, user: "alice", grantId: "g-17", principals: ["root@web-1"], notAfter, sourceAddress: "10.0.0.0/8" });
    expect(issued.keyId).toBe("jitgate user=alice grant=g-17");
    expect(issued.validAfter).toBe(Date.UTC(2030, 5, 1, 11, 59, 30));
    expect(issued.validBefore).toBe(Date.UTC(2030, 5, 1, 14, 0, 0));
    const shown = listing("alice", issued.certificateLine);
    expect(shown).toContain('Key ID: "jitgate user=alice grant=g-17"');
    expect(shown).toContain(`Serial: ${issued.serial}`);
    expect(shown).toContain("Valid: from 2030-06-01T11:59:30 to 2030-06-01T14:00:00");
    expect(shown).toMatch(/Extensions: \n\s+permit-pty\n/);
    expect(shown).toContain("source-address 10.0.0.0/8");
    expect(issued.keyFingerprint).toBe(keygen(["-l", "-E", "sha256", "-f", join(dir, "alice.pub")]).split(" ")[1]);

    const check = { trustedCaBlobs: [ca.publicBlob], principal: "root@web-1", clientAddress: "10.1.1.1" };
    expect(verifyUserCertificate(issued.certificateLine, { ...check, now }).keyId).toBe(issued.keyId);
    expect(codeOf(() => verifyUserCertificate(issued.certificateLine, { ...check, now: issued.validBefore }))).toBe("CERT_EXPIRED");
    expect(codeOf(() => verifyUserCertificate(issued.certificateLine, { ...check, now, clientAddress: "192.0.2.1" }))).toBe("CERT_SOURCE_ADDRESS");
  });

  it("never repeats a serial, even when the clock stands still or steps back", () => {
    let clock = now;
    const { ca: stepping } = SshCertificateAuthority.generate({ now: () => clock });
    const serials: bigint[] = [];
    for (let i = 0; i < 5000; i++) {
      if (i === 2500) clock -= 60_000;
      serials.push(stepping.nextSerial());
    }
    expect(new Set(serials).size).toBe(serials.length);
    for (let i = 1; i < serials.length; i++) expect(serials[i]! > serials[i - 1]!).toBe(true);
    expect(serials.every((s) => s > 0n && s < 1n << 64n)).toBe(true);
  });

  it("reloads from its PEM with the same public key", () => {
    const again = SshCertificateAuthority.fromPem(privateKeyPem);
    expect(again.publicBlob.equals(ca.publicBlob)).toBe(true);
    expect(again.fingerprint).toBe(fingerprint(ca.publicBlob));
  });

  it("issues short-lived upstream certificates for one login", () => {
    const gatewayKey = newKey("gateway-upstream");
    const issued = ca.upstreamCertificate({ publicKeyLine: gatewayKey, login: "deploy", sessionId: "s-9", ttlMs: 120_000 });
    const verified = verifyUserCertificate(issued.certificateLine, { trustedCaBlobs: [ca.publicBlob], now, principal: "deploy", clientAddress: null });
    expect(verified.keyId).toBe("jitgate session=s-9 login=deploy");
    expect(verified.principals).toEqual(["deploy"]);
    expect(verified.validBefore - now).toBeLessThanOrEqual(120_000);
  });

  it("refuses grants that ended and labels that would blur the key id", () => {
    const base = { publicKeyLine: alice, user: "alice", grantId: "g-1", principals: ["root"], notAfter };
    expect(codeOf(() => ca.userCertificate({ ...base, notAfter: now }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => ca.userCertificate({ ...base, user: "alice grant=g-2" }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => ca.userCertificate({ ...base, grantId: "" }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => ca.userCertificate({ ...base, sourceAddress: "anywhere" }))).toBe("CERT_SOURCE_ADDRESS");
  });
});

describe("sshdConfigLines", () => {
  it("prints the CA key for its file and the TrustedUserCAKeys directive", () => {
    const { ca } = SshCertificateAuthority.generate();
    const lines = sshdConfigLines(ca.publicKeyLine());
    expect(lines.at(-1)).toBe("TrustedUserCAKeys /etc/ssh/jitgate_user_ca.pub");
    expect(lines.join("\n")).toContain(ca.publicKeyLine());
    expect(lines[0]).toContain(ca.fingerprint);
    expect(sshdConfigLines(ca.publicKeyLine(), "/srv/ca.pub").at(-1)).toBe("TrustedUserCAKeys /srv/ca.pub");
    expect(codeOf(() => sshdConfigLines(ca.publicKeyLine(), "relative/ca.pub"))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => sshdConfigLines("ssh-ed25519 AAAA"))).toBe("SSH_MALFORMED");
  });
});
