// Our SSH CA's certificates against the real thing: Debian's sshd trusting the CA and the
// stock OpenSSH client presenting them. What sshd accepts and refuses here is what a target
// configured with `jitgate ca export --ssh-target` will accept and refuse.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SshCertificateAuthority, type SshIssuedCertificate } from "../vault/index.js";
import { startSshd, type PrivateSshd } from "./support/sshd.js";

const LOGIN = "jgtest";
const KEY_TYPES = [
  { type: "ed25519", args: [], certName: "ED25519-CERT" },
  { type: "ecdsa", args: ["-b", "256"], certName: "ECDSA-CERT" },
  { type: "rsa", args: ["-b", "3072"], certName: "RSA-CERT" },
] as const;
type KeyType = (typeof KEY_TYPES)[number]["type"];

interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

let sshd: PrivateSshd;
let dir: string;
let knownHosts: string;
let ca: SshCertificateAuthority;
let caPem: string;
const keys = new Map<KeyType, { path: string; publicKeyLine: string }>();

beforeAll(async () => {
  ({ ca, privateKeyPem: caPem } = SshCertificateAuthority.generate());
  sshd = await startSshd({ trustedUserCaKeys: [ca.publicKeyLine()], users: [LOGIN] });
  dir = await mkdtemp(join(tmpdir(), "jitgate-sshc-"));
  knownHosts = join(dir, "known_hosts");
  await writeFile(knownHosts, `${sshd.knownHostsLine}\n`);
  await Promise.all(
    KEY_TYPES.map(async ({ type, args }) => {
      const path = join(dir, `id_${type}`);
      await run("ssh-keygen", ["-q", "-t", type, ...args, "-N", "", "-C", `jgtest-${type}`, "-f", path]);
      keys.set(type, { path, publicKeyLine: (await readFile(`${path}.pub`, "utf8")).trim() });
    }),
  );
});

afterAll(async () => {
  await sshd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function run(file: string, args: string[]): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    // No agent: the client may offer only the key and certificate it is given.
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK;
    execFile(file, args, { env, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      if (typeof code !== "number") return reject(err ?? new Error(`${file} ended without an exit code`));
      resolve({ code, stdout, stderr });
    });
  });
}

function key(type: KeyType): { path: string; publicKeyLine: string } {
  const found = keys.get(type);
  if (!found) throw new Error(`no ${type} key`);
  return found;
}

let certs = 0;
/** Runs `ssh LOGIN@127.0.0.1 -- echo ok` with the key and certificate; returns its result and what sshd logged meanwhile. */
async function login(type: KeyType, cert: SshIssuedCertificate): Promise<SshResult & { log: string }> {
  const certFile = join(dir, `cert-${++certs}.pub`);
  await writeFile(certFile, `${cert.certificateLine}\n`);
  const since = sshd.log().length;
  const result = await run("ssh", [
    "-F", "/dev/null",
    "-o", "IdentitiesOnly=yes",
    "-o", `IdentityFile=${key(type).path}`,
    "-o", `CertificateFile=${certFile}`,
    "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "StrictHostKeyChecking=yes",
    "-o", "BatchMode=yes",
    "-o", "ConnectTimeout=10",
    "-p", String(sshd.port),
    `${LOGIN}@127.0.0.1`, "--", "echo", "ok",
  ]);
  // sshd's per-connection process may still be writing when the client has gone.
  const log = await sshd.waitForLog(/Connection closed|Disconnected from|Close session|session closed/i, since).catch(() => sshd.log().slice(since));
  return { ...result, log };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function upstream(type: KeyType, loginName = LOGIN, authority = ca): SshIssuedCertificate {
  return authority.upstreamCertificate({ publicKeyLine: key(type).publicKeyLine, login: loginName, sessionId: `s-${type}-${certs}` });
}

describe("sshd trusting our CA", () => {
  for (const { type, certName } of KEY_TYPES) {
    it(`accepts an upstream certificate for a ${type} key`, async () => {
      const cert = upstream(type);
      const r = await login(type, cert);
      expect(r.stderr).not.toMatch(/denied/i);
      expect(r.stdout).toBe("ok\n");
      expect(r.code).toBe(0);
      expect(r.log).toMatch(new RegExp(`Accepted publickey for ${LOGIN} from 127\\.0\\.0\\.1 port \\d+ ssh2: ${certName} `));
      expect(r.log).toContain(`ID ${cert.keyId} (serial ${cert.serial})`);
      expect(r.log).toContain(`CA ED25519 ${ca.fingerprint}`);
    });
  }

  it("refuses an expired certificate", async () => {
    // A CA whose clock runs an hour behind issues certificates that ended long ago.
    const past = SshCertificateAuthority.fromPem(caPem, { now: () => Date.now() - 3_600_000 });
    const cert = upstream("ed25519", LOGIN, past);
    expect(cert.validBefore).toBeLessThan(Date.now());
    const r = await login("ed25519", cert);
    expect(r.code).toBe(255);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/Permission denied/);
    expect(r.log).toMatch(/Certificate invalid: expired/);
    expect(r.log).not.toMatch(/Accepted publickey/);
  });

  it("refuses a certificate for another principal", async () => {
    const r = await login("ed25519", upstream("ed25519", "someoneelse"));
    expect(r.code).toBe(255);
    expect(r.stdout).toBe("");
    expect(r.log).toMatch(/Certificate invalid: name is not a listed principal/);
    expect(r.log).not.toMatch(/Accepted publickey/);
  });

  it("refuses a certificate from a CA it does not trust", async () => {
    const { ca: stranger } = SshCertificateAuthority.generate();
    const r = await login("ed25519", upstream("ed25519", LOGIN, stranger));
    expect(r.code).toBe(255);
    expect(r.stdout).toBe("");
    // At VERBOSE sshd names the refused certificate's CA; it is not the trusted one.
    expect(r.log).toMatch(new RegExp(`Failed publickey for ${LOGIN} from 127\\.0\\.0\\.1 port \\d+ ssh2: ED25519-CERT .* CA ED25519 ${escape(stranger.fingerprint)}`));
    // A certificate from a trusted CA is logged as "Accepted certificate ID … via ca.pub" before any other check.
    expect(r.log).not.toMatch(/Accepted certificate ID/);
    expect(r.log).not.toMatch(/Accepted publickey/);
  });

  describe("people's certificates with source-address", () => {
    const person = (sourceAddress: string) =>
      ca.userCertificate({
        publicKeyLine: key("ecdsa").publicKeyLine,
        user: "alice",
        grantId: `g-${++certs}`,
        principals: [LOGIN],
        notAfter: Date.now() + 5 * 60_000,
        sourceAddress,
      });

    it("accepts one that admits 127.0.0.1/32", async () => {
      const cert = person("127.0.0.1/32");
      const r = await login("ecdsa", cert);
      expect(r.stdout).toBe("ok\n");
      expect(r.code).toBe(0);
      expect(r.log).toContain(`ID ${cert.keyId} (serial ${cert.serial})`);
    });

    it("refuses one that admits only 10.0.0.0/8", async () => {
      const r = await login("ecdsa", person("10.0.0.0/8"));
      expect(r.code).toBe(255);
      expect(r.stdout).toBe("");
      expect(r.log).toContain(`Authentication tried for ${LOGIN} with valid certificate but not from a permitted source address (127.0.0.1)`);
      expect(r.log).toMatch(/Refused by certificate options/);
      expect(r.log).not.toMatch(/Accepted publickey/);
    });
  });
});
