// The one place the SSH engine decides whether a user certificate lets someone in. Every
// refusal is a VaultError with its own code, so the engine can log why and tell the person
// what to fix without ever accepting on a path this routine did not consider.
import { VaultError } from "./errors.js";
import { criticalOptionValue, parseCertificateBlob, CERT_SUFFIX, type SshCertificate } from "./ssh-cert.js";
import { sourceAddressAllows } from "./ssh-cidr.js";
import { MAX_LINE_LENGTH, fingerprint, parsePublicKeyBlob, splitKeyLine, type SshPublicKey } from "./ssh-keys.js";
import { SHA1_SIGNATURE, parseSshSignature, verifySsh } from "./ssh-sig.js";
import { malformed } from "./ssh-wire.js";

export interface VerifyUserCertificateOptions {
  /** Blobs of the CA public keys whose user certificates we accept. */
  trustedCaBlobs: Buffer[];
  /** Milliseconds since the epoch. */
  now: number;
  /** The name the person logs in as; it must be one of the certificate's principals. */
  principal: string;
  /** The client's IP address; null when unknown, which fails any source-address restriction. */
  clientAddress: string | null;
}

export interface VerifiedCert {
  keyId: string;
  serial: bigint;
  principals: string[];
  /** Milliseconds since the epoch; Infinity for OpenSSH's "forever". */
  validAfter: number;
  validBefore: number;
  /** Names only, sorted as carried; unknown extensions are reported, not refused (as in sshd). */
  extensions: string[];
  /** The command the CA forces, for the caller to run instead of what the client asks. */
  forceCommand: string | null;
  sourceAddress: string | null;
  /** The certified key: the client must still prove it holds the private half. */
  publicKey: SshPublicKey;
  caFingerprint: string;
}

function refuse(code: string, message: string): VaultError {
  return new VaultError(code, "forbidden", message);
}

function secondsToMs(seconds: bigint): number {
  return seconds > BigInt(Math.floor(Number.MAX_SAFE_INTEGER / 1000)) ? Number.POSITIVE_INFINITY : Number(seconds) * 1000;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "forever";
}

function decode(input: Buffer | string): SshCertificate {
  if (typeof input !== "string") {
    if (input.length > MAX_LINE_LENGTH) throw malformed(`SSH certificate is larger than ${MAX_LINE_LENGTH} bytes`);
    return parseCertificateBlob(input);
  }
  const line = splitKeyLine(input, "SSH certificate line");
  if (!line.type.endsWith(CERT_SUFFIX)) throw malformed(`"${line.type}" is not a certificate: sign the key with the gateway first`);
  const cert = parseCertificateBlob(line.blob);
  if (cert.certType !== line.type) throw malformed(`certificate line says "${line.type}" but the certificate inside is "${cert.certType}"`);
  return cert;
}

function checkSignature(cert: SshCertificate, trustedCaBlobs: Buffer[]): string {
  const caFingerprint = fingerprint(cert.signatureKey);
  if (!trustedCaBlobs.some((trusted) => trusted.equals(cert.signatureKey))) {
    throw refuse("CERT_UNTRUSTED_CA", `certificate "${cert.keyId}" is signed by CA ${caFingerprint}, which this gateway does not trust: ask for a new certificate from the gateway`);
  }
  const caKey = parsePublicKeyBlob(cert.signatureKey);
  const signature = parseSshSignature(cert.signature);
  if (signature.algorithm === SHA1_SIGNATURE) {
    throw refuse("CERT_SHA1_REFUSED", `certificate "${cert.keyId}" is signed with ssh-rsa (SHA-1), which is refused: re-sign it with rsa-sha2-512 (ssh-keygen -t rsa-sha2-512)`);
  }
  if (!verifySsh(caKey, signature, cert.signedData)) {
    throw refuse("CERT_BAD_SIGNATURE", `certificate "${cert.keyId}" does not carry a valid ${signature.algorithm} signature of CA ${caFingerprint}: it was altered or damaged`);
  }
  return caFingerprint;
}

/**
 * Accepts or refuses an OpenSSH user certificate (blob or `…-cert-v01@openssh.com` line).
 * Validity is checked with no clock skew allowance (validAfter ≤ now < validBefore): the
 * issuer already backdates validAfter, and a grant's end must not be stretched here.
 */
export function verifyUserCertificate(certBlobOrLine: Buffer | string, opts: VerifyUserCertificateOptions): VerifiedCert {
  if (!Number.isFinite(opts.now)) throw new VaultError("CERT_VERIFY_OPTIONS", "invalid", "now must be a time in milliseconds");
  const cert = decode(certBlobOrLine);
  if (cert.type !== "user") {
    throw refuse("CERT_NOT_USER", `certificate "${cert.keyId}" is a host certificate and cannot be used to log in`);
  }
  const caFingerprint = checkSignature(cert, opts.trustedCaBlobs);

  const validAfter = secondsToMs(cert.validAfter);
  const validBefore = secondsToMs(cert.validBefore);
  if (opts.now < validAfter) {
    throw refuse("CERT_NOT_YET_VALID", `certificate "${cert.keyId}" is valid only from ${iso(validAfter)} (now ${iso(opts.now)}): check this machine's clock or wait`);
  }
  if (opts.now >= validBefore) {
    throw refuse("CERT_EXPIRED", `certificate "${cert.keyId}" expired at ${iso(validBefore)}: request a new grant or certificate`);
  }

  if (cert.principals.length === 0) {
    throw refuse("CERT_WRONG_PRINCIPAL", `certificate "${cert.keyId}" names no principals; OpenSSH reads that as "anyone", so it is refused`);
  }
  if (!cert.principals.includes(opts.principal)) {
    throw refuse("CERT_WRONG_PRINCIPAL", `certificate "${cert.keyId}" is for ${cert.principals.map((p) => `"${p}"`).join(", ")}, not "${opts.principal}": log in as one of those or request a grant for "${opts.principal}"`);
  }

  let forceCommand: string | null = null;
  let sourceAddress: string | null = null;
  for (const option of cert.criticalOptions) {
    if (option.name === "force-command") {
      forceCommand = criticalOptionValue(option);
    } else if (option.name === "source-address") {
      sourceAddress = criticalOptionValue(option);
      if (opts.clientAddress === null) {
        throw refuse("CERT_SOURCE_ADDRESS", `certificate "${cert.keyId}" is restricted to ${sourceAddress}, and the client's address is unknown`);
      }
      if (!sourceAddressAllows(sourceAddress, opts.clientAddress)) {
        throw refuse("CERT_SOURCE_ADDRESS", `certificate "${cert.keyId}" may be used only from ${sourceAddress}, not from ${opts.clientAddress}`);
      }
    } else {
      throw refuse("CERT_UNKNOWN_CRITICAL_OPTION", `certificate "${cert.keyId}" carries critical option "${option.name}", which this gateway does not enforce, so it is refused`);
    }
  }

  return {
    keyId: cert.keyId,
    serial: cert.serial,
    principals: cert.principals,
    validAfter,
    validBefore,
    extensions: cert.extensions.map((e) => e.name),
    forceCommand,
    sourceAddress,
    publicKey: cert.key,
    caFingerprint,
  };
}
