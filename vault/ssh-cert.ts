// OpenSSH certificates (PROTOCOL.certkeys, *-cert-v01@openssh.com): issuing and parsing.
// Parsing checks structure only; whether a certificate is acceptable is ssh-verify's job.
import { randomBytes, type KeyObject } from "node:crypto";
import { VaultError } from "./errors.js";
import { parseSourceAddressList } from "./ssh-cidr.js";
import { parsePublicKeyBlob, parsePublicKeyLine, publicKeyBlobFromKeyObject, readKeyFields, type SshPublicKey } from "./ssh-keys.js";
import { signSsh } from "./ssh-sig.js";
import { SshReader, SshWriter, malformed } from "./ssh-wire.js";

export const CERT_SUFFIX = "-cert-v01@openssh.com";
const CERT_TYPE_USER = 1;
const CERT_TYPE_HOST = 2;
// OpenSSH's SSHKEY_CERT_MAX_PRINCIPALS: anything past it no sshd accepts either.
export const MAX_PRINCIPALS = 256;
/** OpenSSH's "forever" for valid before. */
export const VALID_FOREVER = (1n << 64n) - 1n;
// Options sshd understands; issuing anything else makes a certificate every sshd refuses.
const KNOWN_CRITICAL_OPTIONS = new Set(["force-command", "source-address", "verify-required"]);
const FLAG_CRITICAL_OPTIONS = new Set(["verify-required"]);

export interface CertificateAuthorityKey {
  privateKey: KeyObject;
  publicBlob: Buffer;
}

export interface CertificateRequest {
  publicKeyLine: string;
  type: "user" | "host";
  keyId: string;
  principals: string[];
  /** Milliseconds since the epoch; certificates carry whole seconds, rounded down. */
  validAfter: number;
  validBefore: number;
  serial: bigint;
  /** `source-address`, `force-command`, or `verify-required` (value ""). */
  criticalOptions?: Record<string, string>;
  /** Defaults to `permit-pty` for user certificates; written sorted. */
  extensions?: string[];
}

export interface CertificateField {
  name: string;
  data: Buffer;
}

export interface SshCertificate {
  certType: string;
  nonce: Buffer;
  key: SshPublicKey;
  serial: bigint;
  type: "user" | "host";
  keyId: string;
  principals: string[];
  /** Seconds since the epoch, as carried. */
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: CertificateField[];
  extensions: CertificateField[];
  signatureKey: Buffer;
  signature: Buffer;
  /** Everything the signature covers. */
  signedData: Buffer;
}

function badRequest(message: string): VaultError {
  return new VaultError("CERT_REQUEST_INVALID", "invalid", message);
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function checkText(value: string, what: string, max: number): void {
  if (value.length === 0 || value.length > max) throw badRequest(`${what} must be 1 to ${max} characters`);
  if (/[\x00-\x1f\x7f]/.test(value)) throw badRequest(`${what} must not contain control characters`);
}

function toSeconds(ms: number, what: string): bigint {
  if (!Number.isFinite(ms) || ms < 0) throw badRequest(`${what} must be a time in milliseconds since the epoch`);
  return BigInt(Math.floor(ms / 1000));
}

function encodeFields(fields: Array<[string, Buffer]>): Buffer {
  const out = new SshWriter();
  for (const [name, data] of fields) out.string(name).string(data);
  return out.toBuffer();
}

function criticalOptionFields(type: "user" | "host", options: Record<string, string>): Array<[string, Buffer]> {
  const names = Object.keys(options).sort(byteOrder);
  if (type === "host" && names.length > 0) throw badRequest("host certificates carry no critical options");
  return names.map((name) => {
    if (!KNOWN_CRITICAL_OPTIONS.has(name)) throw badRequest(`unknown critical option "${name}": every sshd would refuse the certificate`);
    const value = options[name]!;
    if (name === "source-address") parseSourceAddressList(value);
    if (FLAG_CRITICAL_OPTIONS.has(name)) {
      if (value !== "") throw badRequest(`critical option "${name}" takes no value`);
      return [name, Buffer.alloc(0)];
    }
    checkText(value, `critical option "${name}"`, 4096);
    return [name, new SshWriter().string(value).toBuffer()];
  });
}

function extensionNames(req: CertificateRequest): string[] {
  if (req.type === "host") {
    if (req.extensions?.length) throw badRequest("host certificates carry no extensions");
    return [];
  }
  const names = [...new Set(req.extensions ?? ["permit-pty"])].sort(byteOrder);
  for (const name of names) checkText(name, "extension name", 256);
  return names;
}

/** Signs `req` with the CA and returns the certificate line (`…-cert-v01@openssh.com AAAA… keyId`). */
export function issueCertificate(ca: CertificateAuthorityKey, req: CertificateRequest): string {
  const caKey = parsePublicKeyBlob(ca.publicBlob);
  if (!publicKeyBlobFromKeyObject(ca.privateKey).equals(caKey.blob)) {
    throw new VaultError("SSH_CA_MISMATCH", "corrupt", "the CA private key does not belong to the CA public key it was given with");
  }
  const subject = parsePublicKeyLine(req.publicKeyLine);
  if (req.type !== "user" && req.type !== "host") throw badRequest(`certificate type must be "user" or "host"`);
  checkText(req.keyId, "key id", 1024);
  if (req.principals.length === 0) throw badRequest("a certificate must name at least one principal: an empty list means any principal to OpenSSH");
  if (req.principals.length > MAX_PRINCIPALS) throw badRequest(`at most ${MAX_PRINCIPALS} principals`);
  for (const p of req.principals) {
    checkText(p, "principal", 1024);
    if (p.includes(",") || /\s/.test(p)) throw badRequest(`principal "${p}" must not contain commas or spaces`);
  }
  if (new Set(req.principals).size !== req.principals.length) throw badRequest("principals must not repeat");
  const validAfter = toSeconds(req.validAfter, "validAfter");
  const validBefore = toSeconds(req.validBefore, "validBefore");
  if (validBefore <= validAfter) throw badRequest("validBefore must be at least a second after validAfter");
  if (req.serial < 0n || req.serial > VALID_FOREVER) throw badRequest("serial must fit in 64 bits");

  const certType = `${subject.type}${CERT_SUFFIX}`;
  const body = new SshWriter()
    .string(certType)
    .string(randomBytes(32))
    // The certified key's fields, without its type name: the certificate type names it.
    .raw(subject.blob.subarray(4 + subject.type.length))
    .uint64(req.serial)
    .uint32(req.type === "user" ? CERT_TYPE_USER : CERT_TYPE_HOST)
    .string(req.keyId)
    .string(principalsBlob(req.principals))
    .uint64(validAfter)
    .uint64(validBefore)
    .string(encodeFields(criticalOptionFields(req.type, req.criticalOptions ?? {})))
    .string(encodeFields(extensionNames(req).map((n) => [n, Buffer.alloc(0)])))
    .string(Buffer.alloc(0))
    .string(caKey.blob)
    .toBuffer();
  const signature = signSsh(ca.privateKey, caKey.type, body);
  const blob = Buffer.concat([body, new SshWriter().string(signature).toBuffer()]);
  return `${certType} ${blob.toString("base64")} ${req.keyId}`;
}

function principalsBlob(principals: string[]): Buffer {
  const out = new SshWriter();
  for (const p of principals) out.string(p);
  return out.toBuffer();
}

function readFields(bytes: Buffer, what: string): CertificateField[] {
  const reader = new SshReader(bytes, what);
  const fields: CertificateField[] = [];
  while (reader.remaining > 0) {
    const name = reader.utf8(`${what} name`);
    const data = reader.string(`${what} data`);
    const previous = fields[fields.length - 1];
    // PROTOCOL.certkeys requires lexical order; a repeat could hide a second source-address.
    if (previous && byteOrder(previous.name, name) >= 0) throw malformed(`certificate ${what} are not in strictly increasing order ("${previous.name}", "${name}")`);
    fields.push({ name, data });
  }
  return fields;
}

/** The value of a critical option that carries one (a string inside the data string). */
export function criticalOptionValue(field: CertificateField): string {
  const reader = new SshReader(field.data, `critical option "${field.name}"`);
  const value = reader.utf8("value");
  reader.end();
  return value;
}

export function parseCertificateBlob(blob: Buffer): SshCertificate {
  const reader = new SshReader(blob, "SSH certificate");
  const certType = reader.utf8("certificate type");
  if (!certType.endsWith(CERT_SUFFIX)) throw malformed(`"${certType}" is not an OpenSSH certificate type`);
  const nonce = reader.string("nonce");
  const key = readKeyFields(reader, certType.slice(0, -CERT_SUFFIX.length));
  const serial = reader.uint64("serial");
  const typeNumber = reader.uint32("certificate kind");
  if (typeNumber !== CERT_TYPE_USER && typeNumber !== CERT_TYPE_HOST) throw malformed(`unknown certificate kind ${typeNumber}`);
  const keyId = reader.utf8("key id");
  const principalReader = new SshReader(reader.string("principals"), "certificate principals");
  const principals: string[] = [];
  while (principalReader.remaining > 0) {
    if (principals.length >= MAX_PRINCIPALS) throw malformed(`certificate lists more than ${MAX_PRINCIPALS} principals`);
    principals.push(principalReader.utf8("principal"));
  }
  const validAfter = reader.uint64("valid after");
  const validBefore = reader.uint64("valid before");
  const criticalOptions = readFields(reader.string("critical options"), "critical options");
  const extensions = readFields(reader.string("extensions"), "extensions");
  reader.string("reserved");
  const signatureKey = reader.string("signature key");
  const signedData = blob.subarray(0, reader.offset);
  const signature = reader.string("signature");
  reader.end();
  return {
    certType, nonce, key, serial, type: typeNumber === CERT_TYPE_USER ? "user" : "host", keyId, principals,
    validAfter, validBefore, criticalOptions, extensions, signatureKey, signature, signedData,
  };
}
