import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VaultError } from "./errors.js";
import { addressBytes, sourceAddressAllows } from "./ssh-cidr.js";
import { fingerprint, formatPublicKeyLine, generateCaKeyPair, loadCaPrivateKey, parsePublicKeyLine } from "./ssh-keys.js";

const dir = mkdtempSync(join(tmpdir(), "jitgate-ssh-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(args: string[]): string {
  return execFileSync("/usr/bin/ssh-keygen", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function newKey(name: string, type: string, bits?: number): string {
  keygen(["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", `${name} comment`, "-f", join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), "utf8");
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

describe("OpenSSH public keys", () => {
  it.each([
    ["ed25519", "ssh-ed25519", undefined],
    ["ecdsa", "ecdsa-sha2-nistp256", 256],
    ["ecdsa", "ecdsa-sha2-nistp384", 384],
    ["ecdsa", "ecdsa-sha2-nistp521", 521],
    ["rsa", "ssh-rsa", 2048],
  ] as const)("parses ssh-keygen's %s key as %s with its fingerprint", (keyType, sshType, bits) => {
    const name = `${sshType}-user`;
    const line = newKey(name, keyType, bits);
    const key = parsePublicKeyLine(line);
    expect(key.type).toBe(sshType);
    expect(key.comment).toBe(`${name} comment`);
    expect(formatPublicKeyLine(key, key.comment)).toBe(line.trim());
    const printed = keygen(["-l", "-E", "sha256", "-f", join(dir, `${name}.pub`)]);
    expect(printed.split(" ")[1]).toBe(fingerprint(key.blob));
  });

  it("refuses RSA keys under 2048 bits, DSA keys and certificates", () => {
    expect(codeOf(() => parsePublicKeyLine(newKey("rsa1024", "rsa", 1024)))).toBe("SSH_WEAK_KEY");
    expect(codeOf(() => parsePublicKeyLine("ssh-dss AAAAB3NzaC1kc3MAAACBAP8= x"))).toBe("SSH_UNSUPPORTED_KEY");
    expect(codeOf(() => parsePublicKeyLine("ssh-ed25519-cert-v01@openssh.com AAAA x"))).toBe("SSH_UNSUPPORTED_KEY");
  });

  it("refuses damaged lines with SSH_MALFORMED", () => {
    const line = newKey("damaged", "ed25519");
    const [type, b64] = line.split(" ") as [string, string];
    expect(codeOf(() => parsePublicKeyLine(type))).toBe("SSH_MALFORMED");
    expect(codeOf(() => parsePublicKeyLine(`${type} ${b64.slice(0, -8)}`))).toBe("SSH_MALFORMED");
    expect(codeOf(() => parsePublicKeyLine(`${type} ${b64}!`))).toBe("SSH_MALFORMED");
    expect(codeOf(() => parsePublicKeyLine(`${line.trim()}\n${line.trim()}`))).toBe("SSH_MALFORMED");
    expect(parsePublicKeyLine(`  ${line.trim()}\r\n`).comment).toBe("damaged comment");
    expect(codeOf(() => parsePublicKeyLine(`ecdsa-sha2-nistp256 ${b64}`))).toBe("SSH_MALFORMED");
    const ecdsa = parsePublicKeyLine(newKey("offcurve", "ecdsa", 256));
    const bent = Buffer.from(ecdsa.blob);
    bent.writeUInt8(bent.readUInt8(bent.length - 1) ^ 1, bent.length - 1);
    expect(codeOf(() => parsePublicKeyLine(formatPublicKeyLine({ blob: bent })))).toBe("SSH_MALFORMED");
  });

  it("generates an ed25519 CA that ssh-keygen reads and that survives a PEM round trip", () => {
    const ca = generateCaKeyPair("test-ca");
    writeFileSync(join(dir, "ca.pub"), `${ca.publicKeyLine}\n`);
    expect(keygen(["-l", "-E", "sha256", "-f", join(dir, "ca.pub")])).toContain(fingerprint(ca.publicBlob));
    const loaded = loadCaPrivateKey(ca.privateKeyPem);
    expect(loaded.publicBlob.equals(ca.publicBlob)).toBe(true);
    expect(codeOf(() => loadCaPrivateKey("not a key"))).toBe("SSH_MALFORMED");
  });
});

describe("source-address lists", () => {
  it("reads IPv4, IPv6, embedded and mapped addresses", () => {
    expect(addressBytes("10.1.2.3")?.toString("hex")).toBe("0a010203");
    expect(addressBytes("::ffff:10.1.2.3")?.toString("hex")).toBe("0a010203");
    expect(addressBytes("2001:db8::1")?.toString("hex")).toBe("20010db8000000000000000000000001");
    expect(addressBytes("::1.2.3.4")?.toString("hex")).toBe("00000000000000000000000001020304");
    expect(addressBytes("1:2:3:4:5:6:1.2.3.4")?.toString("hex")).toBe("00010002000300040005000601020304");
    expect(addressBytes("fe80::1%eth0")?.toString("hex")).toBe("fe800000000000000000000000000001");
    expect(addressBytes("example.com")).toBeNull();
  });

  it("matches CIDR blocks and single addresses", () => {
    const list = "10.0.0.0/8,192.168.1.7,2001:db8::/32";
    expect(sourceAddressAllows(list, "10.200.3.4")).toBe(true);
    expect(sourceAddressAllows(list, "::ffff:10.0.0.1")).toBe(true);
    expect(sourceAddressAllows(list, "192.168.1.7")).toBe(true);
    expect(sourceAddressAllows(list, "192.168.1.8")).toBe(false);
    expect(sourceAddressAllows(list, "2001:db8:ffff::1")).toBe(true);
    expect(sourceAddressAllows(list, "2001:db9::1")).toBe(false);
    expect(sourceAddressAllows("0.0.0.0/0", "::1")).toBe(false);
    expect(sourceAddressAllows("::/0", "2001:db8::1")).toBe(true);
    expect(sourceAddressAllows(list, "not-an-ip")).toBe(false);
  });

  it("refuses lists it cannot read exactly", () => {
    for (const bad of ["", "10.0.0.0/33", "10.1.0.0/8", "10.0.0.0/8,", "host.example", "10.0.0.0/8/1", "::/129", "10.0.0.0/0x8"]) {
      expect(codeOf(() => sourceAddressAllows(bad, "10.0.0.1")), bad).toBe("CERT_SOURCE_ADDRESS");
    }
  });
});
