// The gateway's SSH certificate authority: one CA key, serials that never repeat, and
// certificates shaped by grants (key id naming user and grant, ending when the grant ends).
import { randomBytes, type KeyObject } from "node:crypto";
import { VaultError } from "./errors.js";
import { issueCertificate } from "./ssh-cert.js";
import { fingerprint, formatPublicKeyLine, generateCaKeyPair, loadCaPrivateKey, parsePublicKeyBlob, parsePublicKeyLine } from "./ssh-keys.js";

// Covers clocks a little behind ours on the machine that presents the certificate.
export const BACKDATE_MS = 30_000;
const DEFAULT_UPSTREAM_TTL_MS = 60_000;
const COUNTER_BITS = 48n;
const COUNTER_MASK = (1n << COUNTER_BITS) - 1n;

export interface SshCaOptions {
  privateKey: KeyObject;
  publicBlob: Buffer;
  /** Milliseconds since the epoch; injectable so tests can pin time. */
  now?: () => number;
}

export interface UserCertificateRequest {
  publicKeyLine: string;
  user: string;
  grantId: string;
  /** Logins on the gateway this certificate may name. */
  principals: string[];
  /** The grant's end, in milliseconds since the epoch. */
  notAfter: number;
  sourceAddress?: string;
  /** Defaults to `permit-pty` only: no agent, port or X11 forwarding unless asked. */
  extensions?: string[];
}

export interface UpstreamCertificateRequest {
  publicKeyLine: string;
  /** The account on the target, and the certificate's only principal. */
  login: string;
  sessionId: string;
  ttlMs?: number;
  extensions?: string[];
}

export interface IssuedCertificate {
  certificateLine: string;
  serial: bigint;
  keyId: string;
  validAfter: number;
  validBefore: number;
  /** Fingerprint of the certified key, for audit records. */
  keyFingerprint: string;
}

function checkLabel(value: string, what: string): void {
  // Key ids end up in sshd's log lines, where spaces or control characters would forge fields.
  if (!/^[\x21-\x7e]{1,200}$/.test(value) || value.includes("=")) {
    throw new VaultError("CERT_REQUEST_INVALID", "invalid", `${what} "${value}" must be 1 to 200 printable characters without spaces or "="`);
  }
}

export class SshCertificateAuthority {
  readonly publicBlob: Buffer;
  private readonly privateKey: KeyObject;
  private readonly now: () => number;
  // Random high bits keep serials apart across nodes and restarts; the low bits only grow.
  private readonly serialPrefix = BigInt(randomBytes(2).readUInt16BE(0)) << COUNTER_BITS;
  private counter = 0n;

  constructor(options: SshCaOptions) {
    parsePublicKeyBlob(options.publicBlob);
    this.privateKey = options.privateKey;
    this.publicBlob = options.publicBlob;
    this.now = options.now ?? Date.now;
  }

  /** A new ed25519 CA and the PEM to store in the secret store. */
  static generate(options: { now?: () => number } = {}): { ca: SshCertificateAuthority; privateKeyPem: string } {
    const pair = generateCaKeyPair();
    return { ca: new SshCertificateAuthority({ ...options, ...pair }), privateKeyPem: pair.privateKeyPem };
  }

  static fromPem(pem: string, options: { now?: () => number } = {}): SshCertificateAuthority {
    return new SshCertificateAuthority({ ...options, ...loadCaPrivateKey(pem) });
  }

  publicKeyLine(comment = "jitgate-user-ca"): string {
    return formatPublicKeyLine({ blob: this.publicBlob }, comment);
  }

  get fingerprint(): string {
    return fingerprint(this.publicBlob);
  }

  nextSerial(): bigint {
    const clock = BigInt(Math.max(0, Math.floor(this.now())));
    this.counter = clock > this.counter ? clock : this.counter + 1n;
    return this.serialPrefix | (this.counter & COUNTER_MASK);
  }

  /** A certificate for a person connecting to the gateway, valid until the grant ends. */
  userCertificate(req: UserCertificateRequest): IssuedCertificate {
    checkLabel(req.user, "user");
    checkLabel(req.grantId, "grant id");
    return this.issue({
      publicKeyLine: req.publicKeyLine,
      keyId: `jitgate user=${req.user} grant=${req.grantId}`,
      principals: req.principals,
      validBefore: req.notAfter,
      criticalOptions: req.sourceAddress === undefined ? {} : { "source-address": req.sourceAddress },
      extensions: req.extensions,
    });
  }

  /** A short-lived certificate the gateway uses itself to log in to a target that trusts this CA. */
  upstreamCertificate(req: UpstreamCertificateRequest): IssuedCertificate {
    checkLabel(req.sessionId, "session id");
    checkLabel(req.login, "login");
    return this.issue({
      publicKeyLine: req.publicKeyLine,
      keyId: `jitgate session=${req.sessionId} login=${req.login}`,
      principals: [req.login],
      validBefore: this.now() + (req.ttlMs ?? DEFAULT_UPSTREAM_TTL_MS),
      criticalOptions: {},
      extensions: req.extensions,
    });
  }

  private issue(req: { publicKeyLine: string; keyId: string; principals: string[]; validBefore: number; criticalOptions: Record<string, string>; extensions: string[] | undefined }): IssuedCertificate {
    const now = this.now();
    if (!(req.validBefore > now)) {
      throw new VaultError("CERT_REQUEST_INVALID", "invalid", `the certificate would end at ${new Date(req.validBefore).toISOString()}, which has passed`);
    }
    const key = parsePublicKeyLine(req.publicKeyLine);
    const serial = this.nextSerial();
    const validAfter = now - BACKDATE_MS;
    const certificateLine = issueCertificate(
      { privateKey: this.privateKey, publicBlob: this.publicBlob },
      { ...req, type: "user", validAfter, serial },
    );
    // What the certificate carries: whole seconds, rounded down by the encoder.
    return {
      certificateLine, serial, keyId: req.keyId,
      validAfter: Math.floor(validAfter / 1000) * 1000,
      validBefore: Math.floor(req.validBefore / 1000) * 1000,
      keyFingerprint: fingerprint(key.blob),
    };
  }
}

/**
 * The sshd_config lines that make a target trust this CA's user certificates, as
 * `jitgate ca export` prints them. TrustedUserCAKeys takes a file, so the key line goes
 * there; with no AuthorizedPrincipalsFile, sshd admits a certificate whose principals
 * include the login name.
 */
export function sshdConfigLines(caPublicLine: string, caKeyPath = "/etc/ssh/jitgate_user_ca.pub"): string[] {
  const ca = parsePublicKeyLine(caPublicLine);
  if (!/^\/[^\s]+$/.test(caKeyPath)) {
    throw new VaultError("CERT_REQUEST_INVALID", "invalid", `the CA key path must be an absolute path without spaces, not "${caKeyPath}"`);
  }
  return [
    `# jitgate user CA ${fingerprint(ca.blob)}: put this line in ${caKeyPath}`,
    `#   ${formatPublicKeyLine(ca, ca.comment)}`,
    `TrustedUserCAKeys ${caKeyPath}`,
  ];
}
