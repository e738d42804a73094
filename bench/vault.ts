// The vault's costs, each against the direct path measured in the same run:
//   1. SSH certificates per second (SshCertificateAuthority.userCertificate and
//      upstreamCertificate) against raw ed25519 signatures of a blob the size of what a
//      certificate signs: one signature per certificate is the floor.
//   2. X.509 client certificates per second (issueClientCertificate) against
//      generateKeyPairSync("rsa", 2048), which every issue pays once, and where the rest goes.
//   3. Time per PostgreSQL password rotation (PostgresRotator on a SecretStore in an
//      in-memory PGlite, against a private scram-sha-256 cluster) against one
//      `ALTER ROLE ... PASSWORD '<verifier>'` on an open connection plus one fresh login
//      with the new password: what any rotation pays at least.
// Measures are interleaved so that noise from the shared machine lands on all of them.
//
//   node dist/bench/vault.js [--ssh N] [--ssh-warmup N] [--x509 N] [--roles N] [--rounds N]
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { rmSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import forge from "node-forge";
import pg from "pg";
import { openPglite } from "../gateway/store/pglite.js";
import { startPrivateCluster } from "./private-postgres.js";
import {
  PostgresRotator,
  RotationHistory,
  SecretStore,
  SshCertificateAuthority,
  createCertificateAuthority,
  fingerprint,
  generatePassword,
  issueClientCertificate,
  parsePublicKeyLine,
  rotationSecrets,
  scramSha256Verifier,
  unlockKek,
  vaultMigrations,
  verifyClientCertificate,
  verifyUserCertificate,
  type PostgresTarget,
  type VaultClock,
  type VaultSql,
} from "../vault/index.js";
import { fail, intOption, main, parseArgs, summarize, type Summary } from "./common.js";
import { printGrid, printTable } from "./table.js";

const COMMAND = "cd /work/main && npm run build && node dist/bench/vault.js";

const USAGE = `usage: node dist/bench/vault.js [--ssh N] [--ssh-warmup N] [--x509 N] [--roles N] [--rounds N]

SSH certificates (N per kind, default 5000, after --ssh-warmup, default 1000) against raw
ed25519 signatures; X.509 client certificates (--x509, default 50) against RSA-2048 key
generation; PostgreSQL password rotation of --roles roles (default 20), each rotated
--rounds times (default 5), on a private scram-sha-256 cluster started and removed by the
run, against ALTER ROLE plus one fresh login.`;

/** A fixed ed25519 user key: what a person's ssh-agent would present. */
const USER_KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKuSKjAdg+28uvSS8Fr2WfzesMUdIYbtfBJ16XUFIxYR bench@jitgate";
/** An ed25519 certificate ends with string(string("ssh-ed25519") string(64-byte signature)). */
const ED25519_SIGNATURE_FIELD = 4 + 4 + "ssh-ed25519".length + 4 + 64;
/** SSH measures run in blocks of this many calls, the kinds taking turns block by block. */
const SSH_BLOCK = 250;

const clock: VaultClock = { now: () => Date.now() };
const us = (ms: number) => ms * 1000;
const fmt = (v: number, digits = 2) => v.toFixed(digits);

// ---------------------------------------------------------------- 1. SSH certificates

interface Rate {
  summary: Summary;
  /** Calls per second over the summed call times. */
  perSecond: number;
}

function rate(times: number[]): Rate {
  const total = times.reduce((s, t) => s + t, 0);
  return { summary: summarize(times), perSecond: times.length / (total / 1000) };
}

async function sshCertificates(n: number, warmup: number): Promise<{ user: Rate; upstream: Rate; direct: Rate; parts: SshParts }> {
  const { ca, privateKeyPem } = SshCertificateAuthority.generate();
  const caKey: KeyObject = createPrivateKey(privateKeyPem);
  const notAfter = Date.now() + 3600_000;
  const user = (i: number) =>
    ca.userCertificate({ publicKeyLine: USER_KEY_LINE, user: "alice", grantId: `grant-${i}`, principals: ["alice"], notAfter });
  const upstream = (i: number) => ca.upstreamCertificate({ publicKeyLine: USER_KEY_LINE, login: "deploy", sessionId: `session-${i}` });

  // What a certificate signs is everything before its signature field; the direct path signs
  // a blob of that size.
  const sample = user(0);
  const certBlob = Buffer.from(sample.certificateLine.split(" ")[1] ?? "", "base64");
  if (certBlob.readUInt32BE(certBlob.length - ED25519_SIGNATURE_FIELD) !== ED25519_SIGNATURE_FIELD - 4) {
    fail("the certificate does not end with an ed25519 signature field: update ED25519_SIGNATURE_FIELD");
  }
  const signedBytes = certBlob.length - ED25519_SIGNATURE_FIELD;
  const blob = randomBytes(signedBytes);
  const direct = (i: number) => {
    blob.writeUInt32BE(i >>> 0, 0);
    return sign(null, blob, caKey);
  };

  // Both kinds must give certificates the verification routine accepts.
  const now = Date.now();
  const trusted = { trustedCaBlobs: [ca.publicBlob], now, clientAddress: "127.0.0.1" };
  verifyUserCertificate(sample.certificateLine, { ...trusted, principal: "alice" });
  verifyUserCertificate(upstream(0).certificateLine, { ...trusted, principal: "deploy" });

  const kinds: ((i: number) => unknown)[] = [user, upstream, direct];
  const times: number[][] = [[], [], []];
  const blocks = Math.ceil((warmup + n) / SSH_BLOCK);
  let done = 0;
  for (let b = 0; b < blocks; b++) {
    const size = Math.min(SSH_BLOCK, warmup + n - done);
    for (let k = 0; k < 3; k++) {
      const which = (b + k) % 3;
      const fn = kinds[which] as (i: number) => unknown;
      const into = times[which] as number[];
      for (let i = done; i < done + size; i++) {
        const t0 = performance.now();
        fn(i);
        const dt = performance.now() - t0;
        if (i >= warmup) into.push(dt);
      }
    }
    done += size;
  }
  console.log(
    `SSH: ed25519 CA, ed25519 user key; ${n} calls of each kind after ${warmup} warm-up, in blocks of ${SSH_BLOCK} taking turns; ` +
      `a user certificate is ${certBlob.length} bytes, of which ${signedBytes} are signed; both kinds verified by verifyUserCertificate`,
  );
  return { user: rate(times[0] as number[]), upstream: rate(times[1] as number[]), direct: rate(times[2] as number[]), parts: sshParts(n, caKey) };
}

interface SshParts {
  /** issueCertificate checks that the CA private key matches its public blob: derive, export as JWK. */
  caKeyCheck: number;
  /** The user key line is parsed twice (by the CA and by the encoder), then fingerprinted once. */
  parse: number;
  /** The certificate's 32-byte nonce. */
  nonce: number;
}

/** The per-certificate work besides the signature that can be timed on its own, in ms per certificate. */
function sshParts(n: number, caKey: KeyObject): SshParts {
  const each = (fn: () => unknown) => {
    for (let i = 0; i < Math.min(n, 500); i++) fn();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    return (performance.now() - t0) / n;
  };
  return {
    caKeyCheck: each(() => createPublicKey(caKey).export({ format: "jwk" })),
    parse: each(() => {
      parsePublicKeyLine(USER_KEY_LINE);
      fingerprint(parsePublicKeyLine(USER_KEY_LINE).blob);
    }),
    nonce: each(() => randomBytes(32)),
  };
}

function reportSsh(r: { user: Rate; upstream: Rate; direct: Rate }, parts: SshParts): void {
  const d = r.direct;
  const rows = (label: string, j: Rate) => [
    { measure: `${label}: certificates per second`, jitgate: j.perSecond, direct: d.perSecond, digits: 0 },
    { measure: `${label}: mean per certificate`, unit: "µs", jitgate: us(1000 / j.perSecond), direct: us(1000 / d.perSecond), digits: 1 },
    { measure: `${label}: p50 per certificate`, unit: "µs", jitgate: us(j.summary.p50), direct: us(d.summary.p50), digits: 1 },
    { measure: `${label}: p99 per certificate`, unit: "µs", jitgate: us(j.summary.p99), direct: us(d.summary.p99), digits: 1 },
  ];
  printTable("SSH certificates vs raw ed25519 signatures of the same size", [...rows("userCertificate", r.user), ...rows("upstreamCertificate", r.upstream)], "ed25519 sign");
  const userMean = 1000 / r.user.perSecond;
  const signMean = 1000 / d.perSecond;
  const rest = userMean - signMean - parts.caKeyCheck - parts.parse - parts.nonce;
  const share = (v: number) => `${fmt((100 * v) / userMean, 0)}%`;
  printGrid("one user certificate, split (means; the parts timed alone, in the same run)", ["part", "µs", "share"], [
    ["ed25519 signature (the direct path)", fmt(us(signMean), 1), share(signMean)],
    ["CA key check: public key derived from the private key, JWK export", fmt(us(parts.caKeyCheck), 1), share(parts.caKeyCheck)],
    ["user key line parsed twice + SHA-256 fingerprint", fmt(us(parts.parse), 1), share(parts.parse)],
    ["32-byte nonce (randomBytes)", fmt(us(parts.nonce), 1), share(parts.nonce)],
    ["rest: checks, serial, wire encoding, base64 (by difference)", fmt(us(rest), 1), share(rest)],
    ["whole userCertificate", fmt(us(userMean), 1), "100%"],
  ]);
}

// ---------------------------------------------------------------- 2. X.509 client certificates

interface X509Result {
  issue: Summary;
  keygen: Summary;
  caLoad: Summary;
  forgeSign: Summary;
  pemRoundTrip: Summary;
  /** Standard error of the key generation mean: how far apart two such means may fall. */
  keygenStdErr: number;
}

function timed(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function stdErr(values: number[]): number {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, values.length - 1);
  return Math.sqrt(variance / values.length);
}

function x509Certificates(n: number): X509Result {
  const t0 = performance.now();
  const ca = createCertificateAuthority({ commonName: "jitgate bench CA" });
  console.log(`\nX.509: RSA-2048 CA made in ${(performance.now() - t0).toFixed(0)} ms; ${n} client certificates and ${n} key pairs, interleaved, after 2 warm-up each`);
  const validUntil = new Date(Date.now() + 3600_000);
  const issue = () => issueClientCertificate(ca, "alice", { validUntil });
  const keygen = () => generateKeyPairSync("rsa", { modulusLength: 2048 });

  const verified = verifyClientCertificate(ca, issue().certPem);
  if (verified.userName !== "alice") fail(`the client certificate names ${verified.userName}, not alice`);

  const issues: number[] = [];
  const keygens: number[] = [];
  for (let i = 0; i < n + 2; i++) {
    const pair = i % 2 === 0 ? [issue, keygen] : [keygen, issue];
    for (const fn of pair) {
      const dt = timed(fn);
      if (i >= 2) (fn === issue ? issues : keygens).push(dt);
    }
  }

  // The parts of an issue besides the key pair, timed one by one with the same inputs.
  const caLoad: number[] = [];
  const forgeSign: number[] = [];
  const pemRoundTrip: number[] = [];
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem) as forge.pki.rsa.PrivateKey;
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const { privateKey, publicKey } = keygen();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
  cert.serialNumber = `01${randomBytes(16).toString("hex")}`;
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = validUntil;
  cert.setSubject([{ name: "commonName", value: "alice" }, { name: "organizationName", value: "jitgate" }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, critical: true },
    { name: "extKeyUsage", clientAuth: true },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  for (let i = 0; i < n; i++) {
    caLoad.push(timed(() => [forge.pki.certificateFromPem(ca.certPem), forge.pki.privateKeyFromPem(ca.keyPem)]));
    forgeSign.push(timed(() => cert.sign(caKey, forge.md.sha256.create())));
    pemRoundTrip.push(
      timed(() => {
        privateKey.export({ type: "pkcs8", format: "pem" });
        forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
        forge.pki.certificateToPem(cert);
      }),
    );
  }
  return {
    issue: summarize(issues),
    keygen: summarize(keygens),
    caLoad: summarize(caLoad),
    forgeSign: summarize(forgeSign),
    pemRoundTrip: summarize(pemRoundTrip),
    keygenStdErr: stdErr(keygens),
  };
}

function reportX509(r: X509Result): void {
  const perSecond = (s: Summary) => 1000 / s.mean;
  printTable("X.509 client certificates vs RSA-2048 key generation", [
    { measure: "per second", jitgate: perSecond(r.issue), direct: perSecond(r.keygen), digits: 1 },
    { measure: "mean", unit: "ms", jitgate: r.issue.mean, direct: r.keygen.mean, digits: 2 },
    { measure: "p50", unit: "ms", jitgate: r.issue.p50, direct: r.keygen.p50, digits: 2 },
    { measure: "p99", unit: "ms", jitgate: r.issue.p99, direct: r.keygen.p99, digits: 2 },
    { measure: "max", unit: "ms", jitgate: r.issue.max, direct: r.keygen.max, digits: 2 },
  ], "RSA keygen");
  const total = r.issue.mean;
  const rest = total - r.keygen.mean - r.caLoad.mean - r.forgeSign.mean - r.pemRoundTrip.mean;
  const share = (v: number) => `${fmt((100 * v) / total, 0)}%`;
  printGrid("one client certificate, split (means; key generation varies a lot: it searches for primes)", ["part", "ms", "share"], [
    ["RSA-2048 key pair, node:crypto (the direct path)", fmt(r.keygen.mean), share(r.keygen.mean)],
    ["forge: RSA-SHA256 signature with the CA key, in JavaScript", fmt(r.forgeSign.mean), share(r.forgeSign.mean)],
    ["forge: parse the CA certificate and key PEM (every issue)", fmt(r.caLoad.mean), share(r.caLoad.mean)],
    ["PEM export of the pair, forge re-parse, certificate PEM", fmt(r.pemRoundTrip.mean), share(r.pemRoundTrip.mean)],
    [`rest: certificate assembly, key ids, keygen spread (by difference; keygen mean ±${fmt(2 * r.keygenStdErr, 1)} ms at 2 s.e.)`, fmt(rest), share(rest)],
    ["whole issueClientCertificate", fmt(total), "100%"],
  ]);
}

// ---------------------------------------------------------------- 3. password rotation

/** Counts the time spent in the vault's own statements (top-level calls only). */
class MeteredSql implements VaultSql {
  readonly shared: boolean;
  spentMs = 0;

  constructor(private readonly inner: VaultSql) {
    this.shared = inner.shared;
  }

  async query<R extends Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]> {
    const t0 = performance.now();
    try {
      return await this.inner.query<R>(text, params);
    } finally {
      this.spentMs += performance.now() - t0;
    }
  }

  async transaction<T>(fn: (tx: VaultSql) => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await this.inner.transaction(fn);
    } finally {
      this.spentMs += performance.now() - t0;
    }
  }
}

interface RotationResult {
  rotation: Summary;
  direct: Summary;
  alter: Summary;
  login: Summary;
  verifier: Summary;
  storeMs: Summary;
  rotations: number;
  roles: number;
  startMs: number;
  wallMs: number;
}

const roleName = (kind: string, i: number) => `bench_${kind}_${String(i).padStart(2, "0")}`;

async function login(target: PostgresTarget, user: string, password: string): Promise<void> {
  const client = new pg.Client({ host: target.host, port: target.port, database: target.database, user, password, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  await client.connect();
  await client.end();
}

async function refuses(target: PostgresTarget, user: string, password: string): Promise<boolean> {
  try {
    await login(target, user, password);
    return false;
  } catch (err) {
    return (err as { code?: unknown }).code === "28P01";
  }
}

async function rotation(roles: number, rounds: number): Promise<RotationResult> {
  const t0 = performance.now();
  const superuserPassword = generatePassword();
  const cluster = await startPrivateCluster({ auth: "scram-sha-256", superuserPassword });
  const keyDir = await mkdtemp(join(tmpdir(), "jitgate-bench-kek-"));
  // Ctrl-C ends the process through exit(): the cluster removes itself then, and so does this.
  const removeKeyDir = () => rmSync(keyDir, { recursive: true, force: true });
  process.once("exit", removeKeyDir);
  const db = await openPglite(null);
  const admin = new pg.Client({ connectionString: cluster.url, connectionTimeoutMillis: 10_000 });
  admin.on("error", () => undefined);
  let store: SecretStore | null = null;
  try {
    await admin.connect();
    const startMs = performance.now() - t0;
    for (const m of vaultMigrations) await db.exec(m.sql);
    const sql = new MeteredSql(db);
    const keyFile = join(keyDir, "kek");
    await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
    await chmod(keyFile, 0o600);
    store = new SecretStore({ sql, clock }, await unlockKek({ sql, clock }, { kind: "keyfile", path: keyFile }));
    const history = new RotationHistory(sql);
    const rotator = new PostgresRotator({ secrets: rotationSecrets(store), log: history, clock });
    const target: PostgresTarget = { host: "127.0.0.1", port: cluster.port, database: "postgres" };

    // Roles with known passwords: `roles` rotated through the vault (plus one to warm up),
    // as many changed directly. Each rotated role changes its own password (no rotator account).
    const initial = new Map<string, string>();
    const rotated = [...Array.from({ length: roles }, (_, i) => roleName("rot", i)), "bench_rot_warmup"];
    const direct = [...Array.from({ length: roles }, (_, i) => roleName("direct", i)), "bench_direct_warmup"];
    for (const role of [...rotated, ...direct]) {
      const password = generatePassword();
      initial.set(role, password);
      await admin.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`);
    }
    for (const role of rotated) await store.put(`bench-db/${role}`, "password", Buffer.from(initial.get(role) as string, "utf8"), "bench", "initial password");

    const rotateOne = async (role: string) => {
      const before = sql.spentMs;
      const t = performance.now();
      await rotator.rotate({ name: `bench-db/${role}`, target, login: role, actor: "bench", reason: "benchmark", trigger: "on-demand" });
      return { ms: performance.now() - t, storeMs: sql.spentMs - before };
    };
    // The floor: the verifier is computed first (timed apart), then ALTER ROLE on the open
    // admin connection and one fresh login with the new password.
    const directOne = async (role: string) => {
      const password = generatePassword();
      let t = performance.now();
      const verifier = scramSha256Verifier(password);
      const verifierMs = performance.now() - t;
      t = performance.now();
      await admin.query(`ALTER ROLE ${pg.escapeIdentifier(role)} PASSWORD ${pg.escapeLiteral(verifier)}`);
      const alterMs = performance.now() - t;
      await login(target, role, password);
      const ms = performance.now() - t;
      return { ms, alterMs, loginMs: ms - alterMs, verifierMs };
    };

    await rotateOne("bench_rot_warmup");
    await directOne("bench_direct_warmup");
    const rot: number[] = [];
    const storeMs: number[] = [];
    const dir: number[] = [];
    const alter: number[] = [];
    const logins: number[] = [];
    const verifiers: number[] = [];
    const w0 = performance.now();
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < roles; i++) {
        const steps = [
          async () => {
            const r = await rotateOne(roleName("rot", i));
            rot.push(r.ms);
            storeMs.push(r.storeMs);
          },
          async () => {
            const r = await directOne(roleName("direct", i));
            dir.push(r.ms);
            alter.push(r.alterMs);
            logins.push(r.loginMs);
            verifiers.push(r.verifierMs);
          },
        ];
        if ((round + i) % 2 === 1) steps.reverse();
        for (const step of steps) await step();
      }
    }
    const wallMs = performance.now() - w0;

    // Afterwards: every rotated role logs in with the vault's current password and no longer
    // with its first one, and the history holds one success per rotation.
    for (let i = 0; i < roles; i++) {
      const role = roleName("rot", i);
      const current = (await store.current(`bench-db/${role}`)).toString("utf8");
      await login(target, role, current).catch((err: unknown) => fail(`${role} does not log in with the vault's current password: ${String(err)}`));
      if (!(await refuses(target, role, initial.get(role) as string))) fail(`${role} still logs in with its first password`);
      const entries = await history.list(`bench-db/${role}`);
      if (entries.length !== rounds || entries.some((e) => e.outcome !== "rotated")) {
        fail(`${role}: expected ${rounds} successful rotations in the history, found ${entries.map((e) => e.outcome).join(", ")}`);
      }
    }
    console.log(
      `\nrotation: private PostgreSQL (scram-sha-256) on 127.0.0.1:${cluster.port} ready in ${startMs.toFixed(0)} ms; SecretStore on in-memory PGlite, key-file KEK; ` +
        `${roles} roles x ${rounds} rounds = ${rot.length} rotations and as many direct changes, interleaved, after 1 warm-up each, in ${(wallMs / 1000).toFixed(1)} s; ` +
        `afterwards every role logs in with the vault's current password, its first password is refused, and the history holds ${rounds} successes per role`,
    );
    return {
      rotation: summarize(rot),
      direct: summarize(dir),
      alter: summarize(alter),
      login: summarize(logins),
      verifier: summarize(verifiers),
      storeMs: summarize(storeMs),
      rotations: rot.length,
      roles,
      startMs,
      wallMs,
    };
  } finally {
    store?.close();
    await admin.end().catch(() => undefined);
    await db.close().catch(() => undefined);
    await cluster.stop().catch((err: unknown) => console.error(`bench: stopping the private PostgreSQL failed: ${String(err)}`));
    await rm(keyDir, { recursive: true, force: true });
    process.removeListener("exit", removeKeyDir);
  }
}

function reportRotation(r: RotationResult): void {
  const rows = (["p50", "p99", "max", "mean"] as const).map((k) => ({ measure: k, unit: "ms", jitgate: r.rotation[k], direct: r.direct[k], digits: 2 }));
  printTable(`password rotation per account (${r.rotations} rotations) vs ALTER ROLE + one fresh login`, rows, "ALTER + login");
  const total = r.rotation.mean;
  const parts: [string, number][] = [
    ["vault store statements (PGlite: recovery check, pending, reads, promote, history)", r.storeMs.mean],
    ["SCRAM verifier, 4096 PBKDF2-SHA256 iterations (timed in the direct loop)", r.verifier.mean],
    ["ALTER ROLE on an open connection (direct path)", r.alter.mean],
    ["fresh SCRAM login (direct path), x2: as the role to ALTER, then to verify", 2 * r.login.mean],
  ];
  const rest = total - parts.reduce((s, [, v]) => s + v, 0);
  printGrid("one rotation, split (means)", ["part", "ms", "share"], [
    ...parts.map(([label, v]) => [label, fmt(v), `${fmt((100 * v) / total, 0)}%`]),
    ["rest: SELECT 1 on verify, closing connections, decrypt/seal (by difference)", fmt(rest), `${fmt((100 * rest) / total, 0)}%`],
    ["whole PostgresRotator.rotate", fmt(total), "100%"],
  ]);
}

// ---------------------------------------------------------------- main

main(async () => {
  const args = parseArgs(process.argv.slice(2), USAGE);
  const sshN = intOption(args, "ssh", 5_000);
  const sshWarmup = intOption(args, "ssh-warmup", 1_000);
  const x509N = intOption(args, "x509", 50);
  const roles = intOption(args, "roles", 20);
  const rounds = intOption(args, "rounds", 5);
  const t0 = performance.now();
  console.log(`=== vault: certificates issued per second, rotation time per account (node ${process.version}, ${process.platform}/${process.arch})`);
  console.log(`command: ${COMMAND}`);

  const ssh = await sshCertificates(sshN, sshWarmup);
  reportSsh(ssh, ssh.parts);

  const x509 = x509Certificates(x509N);
  reportX509(x509);

  const rot = await rotation(roles, rounds);
  reportRotation(rot);

  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  console.log(`\nsummary (no goals were set for these; ratios are jitgate / direct path, measured in the same run):`);
  console.log(
    `  SSH user certificates: ${ssh.user.perSecond.toFixed(0)}/s (${us(1000 / ssh.user.perSecond).toFixed(1)} µs each), ` +
      `${ratio(1000 / ssh.user.perSecond, 1000 / ssh.direct.perSecond)} the time of one raw ed25519 signature (${ssh.direct.perSecond.toFixed(0)}/s); ` +
      `upstream certificates ${ssh.upstream.perSecond.toFixed(0)}/s (${ratio(1000 / ssh.upstream.perSecond, 1000 / ssh.direct.perSecond)})`,
  );
  console.log(
    `  X.509 client certificates: ${(1000 / x509.issue.mean).toFixed(1)}/s (mean ${x509.issue.mean.toFixed(1)} ms), ` +
      `${ratio(x509.issue.mean, x509.keygen.mean)} the time of one RSA-2048 key generation (mean ${x509.keygen.mean.toFixed(1)} ms)`,
  );
  console.log(
    `  PostgreSQL rotation: p50 ${rot.rotation.p50.toFixed(1)} ms, p99 ${rot.rotation.p99.toFixed(1)} ms, max ${rot.rotation.max.toFixed(1)} ms per account; ` +
      `${ratio(rot.rotation.p50, rot.direct.p50)} at p50 the floor of ALTER ROLE + one login (p50 ${rot.direct.p50.toFixed(1)} ms)`,
  );
  console.log(`  whole run ${((performance.now() - t0) / 1000).toFixed(1)} s; private cluster stopped and temporary directories removed`);
  console.log(`\nreproduce: ${COMMAND}`);
});
