// The gateway's certificate authorities, kept in the vault: the X.509 root behind every
// TLS listener, the SSH CA that signs people's certificates, and the SSH CA that targets
// trust for upstream logins. Made on the first start; every node of a cluster uses the same.
import { hostname } from "node:os";
import type { KeyObject } from "node:crypto";
import {
  createCertificateAuthority, formatPublicKeyLine, generateCaKeyPair, issueServerCertificate, loadCaPrivateKey, SshCertificateAuthority,
  type CaMaterial, type SecretStore, type SubjectKey,
} from "../../vault/index.js";

export interface Authorities {
  tls: CaMaterial;
  sshUser: SshCertificateAuthority;
  sshTarget: SshCertificateAuthority;
  /** The gateway's SSH host key: one for every node, so clients pin it once. */
  sshHostKey: { privateKey: KeyObject; privateKeyPem: string; publicKeyLine: string };
}

const TLS_CA = "jitgate/tls-ca";
const SSH_USER_CA = "jitgate/ssh-user-ca";
const SSH_TARGET_CA = "jitgate/ssh-target-ca";
const SSH_HOST_KEY = "jitgate/ssh-host-key";

async function loadOrMake(secrets: SecretStore, name: string, make: () => string): Promise<string> {
  if (!(await secrets.has(name))) await secrets.put(name, "private-key", Buffer.from(make()), "system", "created at first start");
  const value = await secrets.current(name);
  try {
    return value.toString("utf8");
  } finally {
    value.fill(0);
  }
}

/**
 * Loads (or makes) the authorities. `serialise` runs the whole step under a cluster-wide
 * lock so two nodes starting together do not each make a different CA.
 */
export async function loadAuthorities(secrets: SecretStore, serialise: <T>(fn: () => Promise<T>) => Promise<T>): Promise<Authorities> {
  return serialise(async () => {
    const tls = JSON.parse(await loadOrMake(secrets, TLS_CA, () => JSON.stringify(createCertificateAuthority()))) as CaMaterial;
    const sshUser = SshCertificateAuthority.fromPem(await loadOrMake(secrets, SSH_USER_CA, () => SshCertificateAuthority.generate().privateKeyPem));
    const sshTarget = SshCertificateAuthority.fromPem(await loadOrMake(secrets, SSH_TARGET_CA, () => SshCertificateAuthority.generate().privateKeyPem));
    const hostPem = await loadOrMake(secrets, SSH_HOST_KEY, () => generateCaKeyPair().privateKeyPem);
    const host = loadCaPrivateKey(hostPem);
    const sshHostKey = { privateKey: host.privateKey, privateKeyPem: hostPem, publicKeyLine: formatPublicKeyLine({ blob: host.publicBlob }, "jitgate-host") };
    return { tls, sshUser, sshTarget, sshHostKey };
  });
}

/** This node's TLS certificate, issued at each start for the names it answers to, for `key` (makeServerKey). */
export function serverCertificate(tls: CaMaterial, host: string, key: SubjectKey): { key: string; cert: string } {
  const names = ["localhost", "127.0.0.1", "::1"];
  // A machine's name is not always a valid DNS name (underscores, for one); leave it out then.
  if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(hostname())) names.push(hostname());
  if (host && host !== "0.0.0.0" && host !== "::") names.push(host);
  const issued = issueServerCertificate(tls, names, { key });
  return { key: issued.keyPem, cert: issued.certPem };
}
