// Who is connecting, and may they: the user name names the account and target
// (LOGIN@TARGET), an OpenSSH certificate from the gateway's user CA names the person, and a
// live grant for (person, target, login) must exist at that instant.
import ssh2 from "ssh2";
import type { ControlPlane, LiveGrant } from "../../policies/index.js";
import { VaultError, verifyUserCertificate, type VerifiedCert } from "../../vault/index.js";
import { SshEngineError } from "./errors.js";

const LOGIN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;
const TARGET = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const CERT_ALGO = /-cert-v01@openssh\.com$/;

export interface Destination {
  login: string;
  target: string;
}

/** Reads `LOGIN@TARGET`; the last @ splits, so a login never holds one. */
export function parseDestination(userName: string): Destination {
  const at = userName.lastIndexOf("@");
  const login = userName.slice(0, at);
  const target = userName.slice(at + 1);
  if (at <= 0 || !LOGIN.test(login) || !TARGET.test(target)) {
    const shown = JSON.stringify(userName.slice(0, 100));
    throw new SshEngineError("SSH_BAD_USER_NAME", `user name ${shown} must be LOGIN@TARGET, like root@web-1 (ssh -l root@web-1 ... or jitgate ssh root@web-1)`);
  }
  return { login, target };
}

export function isCertificateAlgorithm(algo: string): boolean {
  return CERT_ALGO.test(algo);
}

/**
 * The principals a certificate claims, read without trusting them: they only choose which
 * person to check the certificate for, and verifyUserCertificate then checks everything.
 */
export function claimedPrincipals(blob: Buffer): string[] {
  let at = 0;
  const u32 = () => {
    if (at + 4 > blob.length) throw new Error("truncated");
    const v = blob.readUInt32BE(at);
    at += 4;
    return v;
  };
  const str = () => {
    const len = u32();
    if (at + len > blob.length) throw new Error("truncated");
    const v = blob.subarray(at, at + len);
    at += len;
    return v;
  };
  try {
    const type = str().toString("latin1");
    // Fields of the certified key between the nonce and the serial, by key type.
    const keyFields = type.startsWith("ssh-ed25519") ? 1 : type.startsWith("ecdsa-") || type.startsWith("ssh-rsa") ? 2 : -1;
    if (keyFields < 0) return [];
    str();
    for (let i = 0; i < keyFields; i++) str();
    at += 8 + 4;
    str();
    const packed = str();
    const names: string[] = [];
    for (let p = 0; p + 4 <= packed.length; ) {
      const len = packed.readUInt32BE(p);
      names.push(packed.subarray(p + 4, p + 4 + len).toString("utf8"));
      p += 4 + len;
    }
    return names.slice(0, 16);
  } catch {
    return [];
  }
}

export interface CheckedCertificate {
  cert: VerifiedCert;
  /** The person the certificate names, for the grant lookup. */
  principal: string;
}

/** Verifies a presented certificate against the user CA; refusals say what to fix. */
export function checkCertificate(blob: Buffer, trustedCa: Buffer, clientAddress: string, now: number): CheckedCertificate {
  const claimed = claimedPrincipals(blob);
  const principal = claimed[0] ?? "";
  try {
    const cert = verifyUserCertificate(blob, { trustedCaBlobs: [trustedCa], now, principal, clientAddress });
    return { cert, principal };
  } catch (err) {
    if (err instanceof VaultError) throw new SshEngineError("SSH_BAD_CERTIFICATE", err.message, { cause: err });
    throw err;
  }
}

/** Checks the client's proof that it holds the certified key (RFC 4252 7). SHA-1 RSA is refused. */
export function checkPossession(cert: VerifiedCert, signed: Buffer, signature: Buffer, hashAlgo: string | undefined): void {
  if (cert.publicKey.type === "ssh-rsa" && hashAlgo !== "sha256" && hashAlgo !== "sha512") {
    throw new SshEngineError("SSH_BAD_SIGNATURE", "RSA signatures with SHA-1 are refused: use an OpenSSH client from 2016 or later (rsa-sha2-256/512) or an ed25519 key");
  }
  const key = ssh2.utils.parseKey(cert.publicKey.blob);
  const ok = !(key instanceof Error) && !Array.isArray(key) && key.verify(signed, signature, hashAlgo) === true;
  if (!ok) throw new SshEngineError("SSH_BAD_SIGNATURE", `the signature does not match certificate "${cert.keyId}": the client does not hold its key`);
}

/** The live grant the certificate's person holds for the destination, or a refusal saying how to get one. */
export async function findGrant(cp: ControlPlane, checked: CheckedCertificate, dest: Destination): Promise<LiveGrant> {
  for (const principal of checked.cert.principals) {
    const grant = await cp.grants.findLive(principal, dest.target, dest.login);
    if (grant) {
      if (grant.targetKind !== "ssh") throw new SshEngineError("SSH_NOT_SSH_TARGET", `${dest.target} is a ${grant.targetKind} target, not an SSH one`);
      return grant;
    }
  }
  throw new SshEngineError(
    "SSH_NO_GRANT",
    `no active grant for ${dest.login}@${dest.target}: request one with: jitgate request ${dest.target} --login ${dest.login} --for 30m --reason "..."`,
  );
}
