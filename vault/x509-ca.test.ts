import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { certifyClientKey, createCertificateAuthority, issueClientCertificate, issueServerCertificate, verifyClientCertificate } from "./x509-ca.js";

const dir = mkdtempSync(join(tmpdir(), "jg-x509-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const openssl = (...args: string[]) => execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

const ca = createCertificateAuthority();
const DAY = 86400_000;

describe("X.509 certificate authority", () => {
  it("issues server certificates that OpenSSL verifies against the root, with the names asked for", () => {
    const server = issueServerCertificate(ca, ["gateway.example.test", "*.t.example.test", "127.0.0.1", "::1"]);
    const caPath = file("ca.pem", ca.certPem);
    const certPath = file("server.pem", server.certPem);
    expect(openssl("verify", "-CAfile", caPath, "-purpose", "sslserver", certPath)).toContain("OK");
    const text = openssl("x509", "-in", certPath, "-noout", "-text");
    expect(text).toContain("DNS:gateway.example.test");
    expect(text).toContain("DNS:*.t.example.test");
    expect(text).toContain("IP Address:127.0.0.1");
    expect(text).toContain("IP Address:0:0:0:0:0:0:0:1");
    expect(text).toContain("CA:FALSE");
    expect(server.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(397 * DAY);
  });

  it("serves TLS that a client trusting only the root accepts, and one that does not refuses", async () => {
    const server = issueServerCertificate(ca, ["localhost", "127.0.0.1"]);
    const srv = createServer({ key: server.keyPem, cert: server.certPem }, (s) => s.end("hello"));
    srv.listen(0, "127.0.0.1");
    await once(srv, "listening");
    const port = (srv.address() as AddressInfo).port;
    const talk = (caPem: string | undefined) =>
      new Promise<string>((resolve, reject) => {
        const sock: TLSSocket = connect({ host: "127.0.0.1", port, servername: "localhost", ...(caPem ? { ca: caPem } : {}) }, () => undefined);
        let data = "";
        sock.on("data", (d: Buffer) => (data += d.toString()));
        sock.on("end", () => resolve(data));
        sock.on("error", reject);
      });
    try {
      expect(await talk(ca.certPem)).toBe("hello");
      await expect(talk(createCertificateAuthority().certPem)).rejects.toThrow();
    } finally {
      srv.close();
    }
  });

  it("issues client certificates it verifies, naming the user", () => {
    const c = issueClientCertificate(ca, "alice", { validUntil: new Date(Date.now() + 3600_000) });
    expect(openssl("verify", "-CAfile", file("ca2.pem", ca.certPem), "-purpose", "sslclient", file("alice.pem", c.certPem))).toContain("OK");
    expect(verifyClientCertificate(ca, c.certPem)).toMatchObject({ userName: "alice", serial: c.serial });
  });

  it.each([
    ["another CA's certificate", (): string => issueClientCertificate(createCertificateAuthority(), "alice", { validUntil: new Date(Date.now() + 3600_000) }).certPem, Date.now(), "CERT_UNTRUSTED_CA"],
    ["an expired certificate", (): string => issueClientCertificate(ca, "alice", { validUntil: new Date(Date.now() + 3600_000) }).certPem, Date.now() + 2 * 3600_000, "CERT_EXPIRED"],
    ["a server certificate", (): string => issueServerCertificate(ca, ["alice"]).certPem, Date.now(), "CERT_WRONG_USAGE"],
    ["garbage", (): string => "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", Date.now(), "CERT_MALFORMED"],
  ] as const)("refuses %s", (_name, make, at, code) => {
    expect(() => verifyClientCertificate(ca, make(), at)).toThrow(expect.objectContaining({ code }));
  });

  it("refuses names that are not DNS names or addresses, and certificates that end in the past", () => {
    for (const bad of ["ex ample.com", "a..b", "*.*.x", "-x.com", "x".repeat(300)]) {
      expect(() => issueServerCertificate(ca, [bad])).toThrow(expect.objectContaining({ code: "CERT_BAD_NAME" }));
    }
    expect(() => issueServerCertificate(ca, [])).toThrow(expect.objectContaining({ code: "CERT_BAD_NAME" }));
    expect(() => issueClientCertificate(ca, "Alice'--", { validUntil: new Date(Date.now() + DAY) })).toThrow(expect.objectContaining({ code: "CERT_BAD_NAME" }));
    expect(() => issueClientCertificate(ca, "alice", { validUntil: new Date(Date.now() - 1) })).toThrow(expect.objectContaining({ code: "CERT_BAD_VALIDITY" }));
    expect(() => issueServerCertificate({ certPem: "x", keyPem: "y" }, ["a.test"])).toThrow(expect.objectContaining({ code: "CA_UNREADABLE" }));
  });

  it("certifies a public key made elsewhere, so the private key never travels", () => {
    const spki = (k: ReturnType<typeof generateKeyPairSync>["publicKey"]) => k.export({ type: "spki", format: "pem" }).toString();
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const c = certifyClientKey(ca, "bob", spki(publicKey), { validUntil: new Date(Date.now() + 3600_000) });
    expect(verifyClientCertificate(ca, c.certPem)).toMatchObject({ userName: "bob", serial: c.serial });
    expect("keyPem" in c).toBe(false);
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    for (const bad of [spki(weak), spki(ec), "not a key"]) {
      expect(() => certifyClientKey(ca, "bob", bad, { validUntil: new Date(Date.now() + 3600_000) })).toThrow(expect.objectContaining({ code: "CERT_BAD_KEY" }));
    }
  });
});

