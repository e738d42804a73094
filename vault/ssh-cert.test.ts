import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VaultError } from "./errors.js";
import { issueCertificate, parseCertificateBlob, type CertificateRequest } from "./ssh-cert.js";
import { fingerprint, generateCaKeyPair, publicKeyBlobFromKeyObject } from "./ssh-keys.js";
import { verifyUserCertificate } from "./ssh-verify.js";

const dir = mkdtempSync(join(tmpdir(), "jitgate-ssh-cert-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(args: string[]): string {
  return execFileSync("/usr/bin/ssh-keygen", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TZ: "UTC" } });
}

function newKey(name: string, type: string, bits?: number): string {
  keygen(["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", name, "-f", join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), "utf8");
}

/** What `ssh-keygen -L` says about a certificate line, which it only prints if the CA signature verifies. */
function inspect(name: string, certLine: string): string {
  const path = join(dir, `${name}-cert.pub`);
  writeFileSync(path, `${certLine}\n`);
  return keygen(["-L", "-f", path]);
}

function section(listing: string, title: string): string[] {
  const m = new RegExp(`${title}: *\\n((?:\\s{16}.*\\n?)*)`).exec(listing);
  return m ? m[1]!.split("\n").map((l) => l.trim()).filter(Boolean) : [];
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

const ca = generateCaKeyPair("test-ca");
const start = Date.UTC(2030, 0, 2, 3, 4, 5);
const base = (publicKeyLine: string): CertificateRequest => ({
  publicKeyLine,
  type: "user",
  keyId: "alice grant=g-42",
  principals: ["alice", "root"],
  validAfter: start,
  validBefore: start + 3_600_999,
  serial: 18_446_744_073_709_551_000n,
});

describe("issueCertificate", () => {
  it.each([
    ["ed25519", "ssh-ed25519", "ED25519-CERT", undefined],
    ["ecdsa", "ecdsa-sha2-nistp256", "ECDSA-CERT", 256],
    ["ecdsa", "ecdsa-sha2-nistp384", "ECDSA-CERT", 384],
    ["ecdsa", "ecdsa-sha2-nistp521", "ECDSA-CERT", 521],
    ["rsa", "ssh-rsa", "RSA-CERT", 3072],
  ] as const)("certifies a %s user key (%s) that ssh-keygen -L reads back", (keyType, sshType, label, bits) => {
    const name = `user-${sshType}`;
    const line = issueCertificate(ca, { ...base(newKey(name, keyType, bits)), extensions: ["permit-pty", "permit-agent-forwarding", "permit-pty"] });
    expect(line.startsWith(`${sshType}-cert-v01@openssh.com AAAA`)).toBe(true);
    expect(line.endsWith(" alice grant=g-42")).toBe(true);
    const listing = inspect(name, line);
    expect(listing).toContain(`Type: ${sshType}-cert-v01@openssh.com user certificate`);
    expect(listing).toContain(`Public key: ${label} `);
    expect(listing).toContain(`Signing CA: ED25519 ${fingerprint(ca.publicBlob)} (using ssh-ed25519)`);
    expect(listing).toContain('Key ID: "alice grant=g-42"');
    expect(listing).toContain("Serial: 18446744073709551000");
    expect(listing).toContain("Valid: from 2030-01-02T03:04:05 to 2030-01-02T04:04:05");
    expect(section(listing, "Principals")).toEqual(["alice", "root"]);
    expect(listing).toMatch(/Critical Options: \(none\)/);
    expect(section(listing, "Extensions")).toEqual(["permit-agent-forwarding", "permit-pty"]);
  });

  it("gives users permit-pty only unless asked, and writes critical options ssh-keygen understands", () => {
    const listing = inspect("defaults", issueCertificate(ca, {
      ...base(newKey("defaults", "ed25519")),
      criticalOptions: { "source-address": "10.0.0.0/8,2001:db8::/32", "force-command": "/usr/bin/uptime" },
    }));
    expect(section(listing, "Extensions")).toEqual(["permit-pty"]);
    expect(section(listing, "Critical Options")).toEqual(["force-command /usr/bin/uptime", "source-address 10.0.0.0/8,2001:db8::/32"]);
  });

  it("issues host certificates without extensions", () => {
    const listing = inspect("host", issueCertificate(ca, { ...base(newKey("host", "ed25519")), type: "host", principals: ["web-1.internal"] }));
    expect(listing).toContain("host certificate");
    expect(listing).toMatch(/Extensions: \(none\)/);
  });

  it.each([
    ["ecdsa", 384, "ECDSA", "ecdsa-sha2-nistp384"],
    ["rsa", 3072, "RSA", "rsa-sha2-512"],
  ] as const)("signs with a %s CA too (%s bits, %s)", (type, bits, label, algorithm) => {
    const { privateKey } = type === "ecdsa" ? generateKeyPairSync("ec", { namedCurve: "P-384" }) : generateKeyPairSync("rsa", { modulusLength: bits });
    const other = { privateKey, publicBlob: publicKeyBlobFromKeyObject(privateKey) };
    const line = issueCertificate(other, { ...base(newKey(`by-${type}`, "ed25519")), validAfter: Date.now() - 1000, validBefore: Date.now() + 60_000 });
    expect(inspect(`by-${type}`, line)).toContain(`Signing CA: ${label} ${fingerprint(other.publicBlob)} (using ${algorithm})`);
    const verified = verifyUserCertificate(line, { trustedCaBlobs: [other.publicBlob], now: Date.now(), principal: "root", clientAddress: null });
    expect(verified.keyId).toBe("alice grant=g-42");
  });

  it("uses a fresh 32-byte nonce for every certificate", () => {
    const req = base(newKey("nonce", "ed25519"));
    const nonces = [0, 1, 2].map(() => parseCertificateBlob(Buffer.from(issueCertificate(ca, req).split(" ")[1]!, "base64")).nonce);
    expect(nonces.every((n) => n.length === 32)).toBe(true);
    expect(new Set(nonces.map((n) => n.toString("hex"))).size).toBe(3);
  });

  it("refuses requests that would make a useless or dangerous certificate", () => {
    const req = base(newKey("bad", "ed25519"));
    expect(codeOf(() => issueCertificate(ca, { ...req, principals: [] }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, principals: ["a,b"] }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, principals: ["a", "a"] }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, keyId: "" }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, keyId: "x\ny" }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, validBefore: req.validAfter + 500 }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, validBefore: Number.NaN }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, serial: -1n }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, criticalOptions: { "source-adress": "10.0.0.1" } }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, criticalOptions: { "source-address": "10.0.0.1/40" } }))).toBe("CERT_SOURCE_ADDRESS");
    expect(codeOf(() => issueCertificate(ca, { ...req, type: "host", extensions: ["permit-pty"] }))).toBe("CERT_REQUEST_INVALID");
    expect(codeOf(() => issueCertificate(ca, { ...req, publicKeyLine: newKey("weak", "rsa", 1024) }))).toBe("SSH_WEAK_KEY");
    expect(codeOf(() => issueCertificate(ca, { ...req, publicKeyLine: "ssh-ed25519 AAAA" }))).toBe("SSH_MALFORMED");
    const stranger = generateCaKeyPair();
    expect(codeOf(() => issueCertificate({ privateKey: stranger.privateKey, publicBlob: ca.publicBlob }, req))).toBe("SSH_CA_MISMATCH");
  });
});
