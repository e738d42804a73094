// The gateway's X.509 certificate authority: a root that clients trust once (DATA/ca.pem,
// `jitgate ca export --tls`), the TLS certificates it issues to the gateway's listeners,
// and client certificates for PostgreSQL users. Keys are made with node:crypto (fast,
// constant-time); node-forge only assembles and signs the certificates.
import { createPublicKey, generateKeyPair, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import forge from "node-forge";
import { VaultError } from "./errors.js";

export interface CaMaterial {
  /** PEM of the root certificate: what clients trust. */
  certPem: string;
  /** PKCS#8 PEM of the root's private key: a secret, kept in the vault. */
  keyPem: string;
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  serial: string;
  notAfter: Date;
}

const DAY = 86400_000;
// Browsers refuse server certificates valid for longer than 398 days.
const MAX_SERVER_DAYS = 397;
const BACKDATE_MS = 5 * 60_000;

/** A subject's key pair, as PEM: the private key PKCS#8, the public SPKI. */
export interface SubjectKey {
  keyPem: string;
  publicPem: string;
}

function rsaKeyPair(): SubjectKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

/**
 * An RSA key for a server certificate, made off the event loop: about a second of CPU that
 * a starting gateway spends while it opens its stores.
 */
export function makeServerKey(): Promise<SubjectKey> {
  return new Promise((resolve, reject) => {
    generateKeyPair("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } }, (err, publicPem, keyPem) =>
      err ? reject(err) : resolve({ keyPem, publicPem }),
    );
  });
}

// Positive, 128 bits of randomness, never zero: RFC 5280 serial rules.
const serialHex = () => `01${randomBytes(16).toString("hex")}`;

function distinguishedName(commonName: string) {
  return [
    { name: "commonName", value: commonName },
    { name: "organizationName", value: "jitgate" },
  ];
}

/** Makes a new root certificate authority. */
export function createCertificateAuthority(opts: { commonName?: string; validDays?: number; now?: number } = {}): CaMaterial {
  const now = opts.now ?? Date.now();
  const { keyPem, publicPem } = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = serialHex();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + (opts.validDays ?? 3650) * DAY);
  const name = distinguishedName(opts.commonName ?? "jitgate certificate authority");
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

function loadCa(ca: CaMaterial): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  try {
    return { cert: forge.pki.certificateFromPem(ca.certPem), key: forge.pki.privateKeyFromPem(ca.keyPem) as forge.pki.rsa.PrivateKey };
  } catch (err) {
    throw new VaultError("CA_UNREADABLE", "corrupt", "the certificate authority's certificate or key cannot be read", err);
  }
}

function checkName(name: string): void {
  // A SAN entry is a DNS name (wildcards only as the whole leftmost label) or an IP address.
  if (isIP(name)) return;
  if (!/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(name) || name.length > 253) {
    throw new VaultError("CERT_BAD_NAME", "invalid", `${JSON.stringify(name)} is neither a DNS name nor an IP address`);
  }
}

function issue(
  ca: CaMaterial,
  subject: string,
  extensions: object[],
  validDays: number,
  now: number,
  subjectKey: SubjectKey = rsaKeyPair(),
): IssuedCertificate {
  const { cert: caCert, key: caKey } = loadCa(ca);
  const { keyPem, publicPem } = subjectKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = serialHex();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  const notAfter = new Date(Math.min(now + validDays * DAY, caCert.validity.notAfter.getTime()));
  cert.validity.notAfter = notAfter;
  cert.setSubject(distinguishedName(subject));
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    ...extensions,
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem, serial: cert.serialNumber, notAfter };
}

/** A TLS server certificate for the gateway's listeners (API, web, PostgreSQL). */
export function issueServerCertificate(ca: CaMaterial, names: string[], opts: { validDays?: number; now?: number; key?: SubjectKey } = {}): IssuedCertificate {
  const unique = [...new Set(names.filter((n) => n.length > 0))];
  if (unique.length === 0) throw new VaultError("CERT_BAD_NAME", "invalid", "a server certificate needs at least one host name or address");
  unique.forEach(checkName);
  const altNames = unique.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
  return issue(
    ca,
    unique[0] as string,
    [
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames },
    ],
    Math.min(opts.validDays ?? MAX_SERVER_DAYS, MAX_SERVER_DAYS),
    opts.now ?? Date.now(),
    opts.key,
  );
}

/** A client certificate naming a gateway user, for PostgreSQL clients that log in with one. */
const CLIENT_EXTENSIONS = [
  { name: "keyUsage", digitalSignature: true, critical: true },
  { name: "extKeyUsage", clientAuth: true },
];

function clientValidity(userName: string, validUntil: Date, now: number): number {
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(userName)) throw new VaultError("CERT_BAD_NAME", "invalid", `${JSON.stringify(userName)} is not a user name`);
  const days = (validUntil.getTime() - now) / DAY;
  if (days <= 0) throw new VaultError("CERT_BAD_VALIDITY", "invalid", "a client certificate must end in the future");
  return days;
}

/** A client certificate naming a gateway user, with a key pair made here. */
export function issueClientCertificate(ca: CaMaterial, userName: string, opts: { validUntil: Date; now?: number }): IssuedCertificate {
  const now = opts.now ?? Date.now();
  return issue(ca, userName, CLIENT_EXTENSIONS, clientValidity(userName, opts.validUntil, now), now);
}

/**
 * A client certificate for a public key the person made on their own machine, so the
 * private key never travels: an RSA key of at least 2048 bits, as SPKI PEM.
 */
export function certifyClientKey(ca: CaMaterial, userName: string, publicKeyPem: string, opts: { validUntil: Date; now?: number }): Omit<IssuedCertificate, "keyPem"> {
  const now = opts.now ?? Date.now();
  const days = clientValidity(userName, opts.validUntil, now);
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem);
  } catch (err) {
    throw new VaultError("CERT_BAD_KEY", "invalid", "send an RSA public key as PEM (-----BEGIN PUBLIC KEY-----)", err);
  }
  if (key.asymmetricKeyType !== "rsa" || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new VaultError("CERT_BAD_KEY", "invalid", "the key must be RSA with at least 2048 bits");
  }
  const publicPem = key.export({ type: "spki", format: "pem" }).toString();
  const { keyPem: _none, ...issued } = issue(ca, userName, CLIENT_EXTENSIONS, days, now, { keyPem: "", publicPem });
  return issued;
}

/**
 * Checks a presented client certificate: signed by this CA, within its validity, made for
 * client authentication. Returns the user it names.
 */
export function verifyClientCertificate(ca: CaMaterial, certPem: string, now: number = Date.now()): { userName: string; serial: string; notAfter: Date } {
  let cert: X509Certificate;
  let root: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    root = new X509Certificate(ca.certPem);
  } catch (err) {
    throw new VaultError("CERT_MALFORMED", "invalid", "the client certificate cannot be parsed", err);
  }
  if (!cert.checkIssued(root) || !cert.verify(root.publicKey as KeyObject)) {
    throw new VaultError("CERT_UNTRUSTED_CA", "forbidden", "the client certificate was not issued by this gateway's certificate authority");
  }
  if (Date.parse(cert.validFrom) > now) throw new VaultError("CERT_NOT_YET_VALID", "forbidden", `the client certificate is valid only from ${cert.validFrom}`);
  if (Date.parse(cert.validTo) <= now) throw new VaultError("CERT_EXPIRED", "forbidden", `the client certificate expired at ${cert.validTo}`);
  if (!(cert.keyUsage ?? []).includes("1.3.6.1.5.5.7.3.2")) {
    throw new VaultError("CERT_WRONG_USAGE", "forbidden", "the certificate is not a client certificate");
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  if (!cn) throw new VaultError("CERT_MALFORMED", "invalid", "the client certificate names no user");
  return { userName: cn, serial: cert.serialNumber.toLowerCase(), notAfter: new Date(cert.validTo) };
}
