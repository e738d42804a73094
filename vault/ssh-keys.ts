// OpenSSH public keys: the one-line form people paste, the wire blob, and the node:crypto
// KeyObject that verifies with it. Only key types we can verify without SHA-1 or DSA are
// accepted, so a key that parses here is a key the rest of the vault can use.
import { createHash, createPublicKey, generateKeyPairSync, createPrivateKey, type KeyObject } from "node:crypto";
import { VaultError } from "./errors.js";
import { SshReader, SshWriter, malformed } from "./ssh-wire.js";

export type SshKeyType = "ssh-ed25519" | "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" | "ssh-rsa";

export interface SshPublicKey {
  type: SshKeyType;
  /** The wire encoding (what the base64 of a key line decodes to). */
  blob: Buffer;
  keyObject: KeyObject;
}

export interface ParsedKeyLine extends SshPublicKey {
  comment: string;
}

export interface SshCaKeyPair {
  privateKey: KeyObject;
  publicBlob: Buffer;
  publicKeyLine: string;
  /** PKCS#8 PEM, unencrypted: the vault's secret store is what protects it at rest. */
  privateKeyPem: string;
}

// OpenSSH 9 accepts 1024-bit RSA; we do not, because a certificate outlives the handshake.
export const MIN_RSA_BITS = 2048;
// Generous for a 16384-bit RSA certificate with hundreds of principals, small enough that a
// pasted blob cannot make us do real work before we refuse it.
export const MAX_LINE_LENGTH = 64 * 1024;

const CURVES = {
  nistp256: { jwk: "P-256", size: 32, hash: "sha256" },
  nistp384: { jwk: "P-384", size: 48, hash: "sha384" },
  nistp521: { jwk: "P-521", size: 66, hash: "sha512" },
} as const;
type CurveName = keyof typeof CURVES;

export function curveOf(type: SshKeyType): (typeof CURVES)[CurveName] | null {
  const name = type.slice("ecdsa-sha2-".length);
  return type.startsWith("ecdsa-sha2-") && Object.hasOwn(CURVES, name) ? CURVES[name as CurveName] : null;
}

export function isSshKeyType(name: string): name is SshKeyType {
  return name === "ssh-ed25519" || name === "ssh-rsa" || (name.startsWith("ecdsa-sha2-") && Object.hasOwn(CURVES, name.slice(11)));
}

function unsupported(type: string): VaultError {
  return new VaultError("SSH_UNSUPPORTED_KEY", "invalid", `unsupported SSH key type "${type}": use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (${MIN_RSA_BITS} bits or more)`);
}

function b64url(bytes: Buffer): string {
  return bytes.toString("base64url");
}

function bitLength(magnitude: Buffer): number {
  if (magnitude.length === 0) return 0;
  return (magnitude.length - 1) * 8 + magnitude[0]!.toString(2).length;
}

function importJwk(jwk: Record<string, string>, type: string): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: "jwk" });
  } catch (cause) {
    throw new VaultError("SSH_MALFORMED", "invalid", `the ${type} key is not a valid public key (for ECDSA: not a point on the curve)`, cause);
  }
}

/**
 * Reads the key fields that follow the type name, both in a plain key blob and inside a
 * certificate, and returns the plain blob rebuilt from them (our reader only accepts
 * canonical encodings, so the rebuilt blob equals what a plain key would carry).
 */
export function readKeyFields(reader: SshReader, type: string): SshPublicKey {
  if (!isSshKeyType(type)) throw unsupported(type);
  const out = new SshWriter().string(type);
  if (type === "ssh-ed25519") {
    const pk = reader.string("ed25519 public key");
    if (pk.length !== 32) throw malformed(`an ed25519 public key is 32 bytes, not ${pk.length}`);
    out.string(pk);
    return { type, blob: out.toBuffer(), keyObject: importJwk({ kty: "OKP", crv: "Ed25519", x: b64url(pk) }, type) };
  }
  if (type === "ssh-rsa") {
    const e = reader.mpint("rsa exponent");
    const n = reader.mpint("rsa modulus");
    const bits = bitLength(n);
    if (bits < MIN_RSA_BITS) {
      throw new VaultError("SSH_WEAK_KEY", "invalid", `RSA key of ${bits} bits refused: generate one of at least ${MIN_RSA_BITS} bits (ssh-keygen -t rsa -b 3072) or use ed25519`);
    }
    if (e.length === 0 || e.length > 8) throw malformed("RSA public exponent out of range");
    out.mpint(e).mpint(n);
    return { type, blob: out.toBuffer(), keyObject: importJwk({ kty: "RSA", n: b64url(n), e: b64url(e) }, type) };
  }
  const curveName = type.slice("ecdsa-sha2-".length) as CurveName;
  const curve = CURVES[curveName];
  const identifier = reader.utf8("ecdsa curve identifier");
  if (identifier !== curveName) throw malformed(`${type} key names curve "${identifier}"`);
  const q = reader.string("ecdsa point");
  if (q.length !== 1 + 2 * curve.size || q[0] !== 0x04) throw malformed(`${type} point is not an uncompressed ${curve.jwk} point`);
  out.string(curveName).string(q);
  const jwk = { kty: "EC", crv: curve.jwk, x: b64url(q.subarray(1, 1 + curve.size)), y: b64url(q.subarray(1 + curve.size)) };
  return { type, blob: out.toBuffer(), keyObject: importJwk(jwk, type) };
}

export function parsePublicKeyBlob(blob: Buffer): SshPublicKey {
  const reader = new SshReader(blob, "SSH public key");
  const type = reader.utf8("key type");
  const key = readKeyFields(reader, type);
  reader.end();
  return key;
}

/** Strict base64: what a key line carries is never sloppy, and sloppiness hides tampering. */
export function decodeBase64Strict(text: string, what: string): Buffer {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw malformed(`${what} is not valid base64`);
  }
  const bytes = Buffer.from(text, "base64");
  if (bytes.toString("base64") !== text) throw malformed(`${what} is not canonical base64`);
  return bytes;
}

/** Splits `type base64 [comment]`; the comment may contain spaces. */
export function splitKeyLine(line: string, what: string): { type: string; blob: Buffer; comment: string } {
  if (line.length > MAX_LINE_LENGTH) throw malformed(`${what} is longer than ${MAX_LINE_LENGTH} characters`);
  if (/[\r\n]/.test(line.trim())) throw malformed(`${what} must be a single line: send one key at a time`);
  const m = /^\s*(\S+)\s+(\S+)(?:\s+(.*?))?\s*$/.exec(line.trim());
  if (!m) throw malformed(`${what} must look like "ssh-ed25519 AAAA... comment"`);
  return { type: m[1]!, blob: decodeBase64Strict(m[2]!, what), comment: m[3] ?? "" };
}

export function parsePublicKeyLine(line: string): ParsedKeyLine {
  const parts = splitKeyLine(line, "SSH public key line");
  if (parts.type.includes("-cert-v01@openssh.com")) {
    throw new VaultError("SSH_UNSUPPORTED_KEY", "invalid", "this is a certificate, not a public key: send the .pub file of the key itself");
  }
  if (!isSshKeyType(parts.type)) throw unsupported(parts.type);
  const key = parsePublicKeyBlob(parts.blob);
  if (key.type !== parts.type) throw malformed(`key line says "${parts.type}" but the key inside is "${key.type}"`);
  return { ...key, comment: parts.comment };
}

export function formatPublicKeyLine(key: { blob: Buffer }, comment = ""): string {
  const type = new SshReader(key.blob, "SSH public key").utf8("key type");
  const body = `${type} ${key.blob.toString("base64")}`;
  return comment === "" ? body : `${body} ${comment.replace(/[\r\n]+/g, " ")}`;
}

/** As `ssh-keygen -l` prints it: `SHA256:` and unpadded base64. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The SSH blob of a node:crypto public (or private) key. */
export function publicKeyBlobFromKeyObject(key: KeyObject): Buffer {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const jwk = pub.export({ format: "jwk" });
  const bytes = (s: string | undefined): Buffer => Buffer.from(s ?? "", "base64url");
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return new SshWriter().string("ssh-ed25519").string(bytes(jwk.x)).toBuffer();
  if (jwk.kty === "RSA") return new SshWriter().string("ssh-rsa").mpint(bytes(jwk.e)).mpint(bytes(jwk.n)).toBuffer();
  if (jwk.kty === "EC") {
    const entry = Object.entries(CURVES).find(([, c]) => c.jwk === jwk.crv);
    if (entry) {
      const [name, curve] = entry;
      const pad = (b: Buffer): Buffer => Buffer.concat([Buffer.alloc(curve.size - b.length), b]);
      const q = Buffer.concat([Buffer.from([4]), pad(bytes(jwk.x)), pad(bytes(jwk.y))]);
      return new SshWriter().string(`ecdsa-sha2-${name}`).string(name).string(q).toBuffer();
    }
  }
  throw unsupported(`${jwk.kty ?? "?"}/${jwk.crv ?? ""}`);
}

export function generateCaKeyPair(comment = "jitgate-ca"): SshCaKeyPair {
  const { privateKey } = generateKeyPairSync("ed25519");
  const publicBlob = publicKeyBlobFromKeyObject(privateKey);
  return {
    privateKey,
    publicBlob,
    publicKeyLine: formatPublicKeyLine({ blob: publicBlob }, comment),
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

export function loadCaPrivateKey(pem: string): { privateKey: KeyObject; publicBlob: Buffer } {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: "pem" });
  } catch (cause) {
    throw new VaultError("SSH_MALFORMED", "corrupt", "the stored CA private key is not a readable PKCS#8 PEM key", cause);
  }
  const publicBlob = publicKeyBlobFromKeyObject(privateKey);
  parsePublicKeyBlob(publicBlob);
  return { privateKey, publicBlob };
}
