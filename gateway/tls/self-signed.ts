// Until the vault's X.509 CA issues the gateway's certificate, the gateway makes its own
// self-signed one on first start and keeps it, so clients can pin DATA/ca.pem once.
import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import forge from "node-forge";

export interface TlsMaterial {
  key: string;
  cert: string;
  caPath: string;
}

const VALIDITY_DAYS = 825;

export function loadOrCreateTls(dataDir: string, extraNames: string[]): TlsMaterial {
  const dir = join(dataDir, "tls");
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  const caPath = join(dataDir, "ca.pem");
  if (existsSync(keyPath) && existsSync(certPath)) {
    const cert = readFileSync(certPath, "utf8");
    const x509 = new X509Certificate(cert);
    // Regenerate shortly before expiry rather than serve a certificate clients will refuse.
    if (Date.parse(x509.validTo) - Date.now() > 7 * 86400_000) {
      if (!existsSync(caPath)) writeFileSync(caPath, cert);
      return { key: readFileSync(keyPath, "utf8"), cert, caPath };
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
  cert.serialNumber = `01${randomBytes(15).toString("hex")}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + VALIDITY_DAYS * 86400_000);
  const subject = [{ name: "commonName", value: "jitgate gateway" }, { name: "organizationName", value: "jitgate" }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const names = new Set(["localhost", hostname(), ...extraNames].filter((n) => n && n !== "0.0.0.0" && n !== "::"));
  const altNames: { type: number; value?: string; ip?: string }[] = [{ type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }];
  for (const n of names) altNames.push(/^[\d.]+$/.test(n) || n.includes(":") ? { type: 7, ip: n } : { type: 2, value: n });
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  writeFileSync(keyPath, keyPem, { mode: 0o600 });
  chmodSync(keyPath, 0o600);
  writeFileSync(certPath, certPem);
  writeFileSync(caPath, certPem);
  return { key: keyPem, cert: certPem, caPath };
}
