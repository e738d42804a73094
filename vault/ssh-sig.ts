// SSH signature blobs (RFC 8709 ed25519, RFC 5656 ECDSA, RFC 8332 RSA) over node:crypto.
// RSA always signs with rsa-sha2-512, and `ssh-rsa` (SHA-1) never verifies here whatever
// the caller does first, so a SHA-1 signature cannot slip through a forgotten check.
import { sign, verify, type KeyObject } from "node:crypto";
import { curveOf, type SshKeyType, type SshPublicKey } from "./ssh-keys.js";
import { SshReader, SshWriter, malformed } from "./ssh-wire.js";

export const SHA1_SIGNATURE = "ssh-rsa";

export interface SshSignature {
  algorithm: string;
  body: Buffer;
}

export function parseSshSignature(blob: Buffer): SshSignature {
  const reader = new SshReader(blob, "SSH signature");
  const algorithm = reader.utf8("signature algorithm");
  const body = reader.string("signature");
  reader.end();
  return { algorithm, body };
}

/** The signature algorithm a key of this type signs with (the one we use, for RSA). */
export function signatureAlgorithmFor(type: SshKeyType): string {
  return type === "ssh-rsa" ? "rsa-sha2-512" : type;
}

function fixedWidth(magnitude: Buffer, size: number): Buffer | null {
  if (magnitude.length > size) return null;
  return Buffer.concat([Buffer.alloc(size - magnitude.length), magnitude]);
}

export function signSsh(privateKey: KeyObject, type: SshKeyType, data: Buffer): Buffer {
  const algorithm = signatureAlgorithmFor(type);
  const out = new SshWriter().string(algorithm);
  if (type === "ssh-ed25519") return out.string(sign(null, data, privateKey)).toBuffer();
  if (type === "ssh-rsa") return out.string(sign("sha512", data, privateKey)).toBuffer();
  const curve = curveOf(type);
  if (!curve) throw malformed(`cannot sign with a ${type} key`);
  const p1363 = sign(curve.hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
  const inner = new SshWriter().mpint(p1363.subarray(0, curve.size)).mpint(p1363.subarray(curve.size)).toBuffer();
  return out.string(inner).toBuffer();
}

/**
 * True only when `signature` is a valid signature of `data` by `key` with an algorithm that
 * belongs to that key type. Structural damage inside the signature reads as "not valid".
 */
export function verifySsh(key: SshPublicKey, signature: SshSignature, data: Buffer): boolean {
  const { algorithm, body } = signature;
  try {
    if (key.type === "ssh-ed25519") {
      return algorithm === "ssh-ed25519" && body.length === 64 && verify(null, data, key.keyObject, body);
    }
    if (key.type === "ssh-rsa") {
      const hash = algorithm === "rsa-sha2-512" ? "sha512" : algorithm === "rsa-sha2-256" ? "sha256" : null;
      if (hash === null) return false;
      const modulusBytes = Math.ceil((key.keyObject.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
      // OpenSSH accepts signatures a few leading zero bytes short; OpenSSL wants full width.
      const padded = fixedWidth(body, modulusBytes);
      return padded !== null && verify(hash, data, key.keyObject, padded);
    }
    const curve = curveOf(key.type);
    if (!curve || algorithm !== key.type) return false;
    const reader = new SshReader(body, "ECDSA signature");
    const r = fixedWidth(reader.mpint("r"), curve.size);
    const s = fixedWidth(reader.mpint("s"), curve.size);
    reader.end();
    if (!r || !s) return false;
    return verify(curve.hash, data, { key: key.keyObject, dsaEncoding: "ieee-p1363" }, Buffer.concat([r, s]));
  } catch {
    return false;
  }
}
