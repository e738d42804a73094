// SSH through the gateway against the same sshd reached directly, in one run:
//   1. bulk throughput: the stock ssh client reading `head -c N` from the target into
//      /dev/null, the handshake's time taken out, with the session recorded (goal >= 0.85x);
//      also through a second gateway whose recordings go to a ClickHouse server elsewhere (a
//      stand-in on loopback that keeps nothing): the embedded ClickHouse's cost on this host;
//   2. keystroke round trip: one byte to `cat` and back on an open channel (goal: the gateway
//      adds <= 1 ms at p99);
//   3. handshakes per second: connect, certificate login, `true`, close, a few at a time;
//   4. memory per idle recorded session: the gateway's resident memory with N pty shells open
//      against without (goal <= 1 MiB each).
// Both paths log in with an OpenSSH certificate (direct: from a CA the run makes; gateway: its
// user CA for a grant), so they do the same public-key work. The sshd is a private one on
// loopback (needs root); the gateway runs as `jitgate serve`, recording into its embedded
// ClickHouse. Measures alternate between the paths so noise lands on both.
//
//   node dist/bench/ssh.js [--bulk-mb N] [--rounds N] [--keystrokes N] [--handshakes N] [--concurrency N] [--sessions N] [--cpu-prof DIR] [--node-flags "FLAGS"]
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import ssh2 from "ssh2";
import { callApi, type ApiTarget } from "../gateway/cli/client.js";
import { startSshd, type PrivateSshd } from "../test/support/sshd.js";
import { SshCertificateAuthority } from "../vault/index.js";
import { fail, gatewayNodeArgs, intOption, main, median, nullClickHouse, parseArgs, sleep, summarize } from "./common.js";
import { machineCpu, threadCpu } from "./proc-cpu.js";
import { printGrid, ratio } from "./table.js";

const USAGE = `usage: node dist/bench/ssh.js [--bulk-mb N] [--rounds N] [--keystrokes N] [--handshakes N] [--concurrency N] [--sessions N] [--cpu-prof DIR] [--node-flags "FLAGS"]

Bulk reads of --bulk-mb MiB (default 256), --rounds times per path (default 3, median kept);
--keystrokes round trips (default 2000); --handshakes logins (default 100) --concurrency at a
time (default 4); --sessions idle recorded pty shells for the memory figure (default 500).
--cpu-prof writes the gateway process's CPU profile into DIR when it exits; --node-flags "FLAGS"
replaces the V8 setting the gateway runs with (--initial-old-space-size=256) by FLAGS.
Needs root: it starts a private sshd and creates its test account.`;

const LOGIN = "jgbench";
const TARGET = "bench-ssh";
const MAIN = resolve(import.meta.dirname, "../gateway/cli/main.js");

interface Path {
  name: string;
  port: number;
  user: string;
  certFile: string;
  cert: string;
}

interface Gateway {
  proc: ChildProcess;
  api: ApiTarget;
  sshPort: number;
  dir: string;
}

async function startGateway(nodeArgs: string[], clickhouseUrl: string | null = null): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), "jitgate-bench-ssh-"));
  const config = join(dir, "config.yaml");
  writeFileSync(config, `log: { level: error }\n${clickhouseUrl ? `clickhouse: { url: "${clickhouseUrl}" }\n` : ""}`);
  const adminPassword = "bench-admin-password-0001";
  const proc = spawn(process.execPath, [...nodeArgs, MAIN, "serve", "--data", join(dir, "data"), "--host", "127.0.0.1", "--config", config,
    "--api-port", "0", "--http-port", "0", "--ssh-port", "0", "--pg-port", "0"], { env: { ...process.env, JITGATE_ADMIN_PASSWORD: adminPassword, JITGATE_DATABASE_URL: "" }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const ready = await new Promise<{ api: string; ssh: number }>((res, rej) => {
    proc.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const api = /API on (https:\/\/\S+)/.exec(out)?.[1];
      const ssh = /^ssh on 127\.0\.0\.1:(\d+)$/m.exec(out)?.[1];
      if (api && ssh) res({ api, ssh: Number(ssh) });
    });
    proc.once("exit", (code) => rej(new Error(`the gateway exited with ${code}: ${out}`)));
  });
  const anon: ApiTarget = { server: ready.api, ca: readFileSync(join(dir, "data", "ca.pem"), "utf8"), token: null };
  const { token } = await callApi<{ token: string }>(anon, "POST", "/api/v1/auth/login", { user: "admin", password: adminPassword });
  return { proc, api: { ...anon, token }, sshPort: ready.ssh, dir };
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

// ---------------------------------------------------------------- measures

/** Seconds the stock ssh takes to run command, its output going straight to /dev/null. */
function timeSsh(path: Path, keyFile: string, command: string): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn("ssh", ["-p", String(path.port), "-i", keyFile, "-o", `CertificateFile=${path.certFile}`, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
      "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-l", path.user, "127.0.0.1", command],
    { stdio: ["ignore", openSync("/dev/null", "w"), "pipe"] });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.once("exit", (code) => (code === 0 ? res((performance.now() - t0) / 1000) : rej(new Error(`ssh via ${path.name} exited ${code}: ${err}`))));
  });
}

function connect(path: Path, key: string): Promise<ssh2.Client> {
  return new Promise((res, rej) => {
    const c = new ssh2.Client();
    c.once("ready", () => res(c));
    c.once("error", rej);
    c.connect({ host: "127.0.0.1", port: path.port, username: path.user, privateKey: key, certificate: path.cert, readyTimeout: 30_000 } as ssh2.ConnectConfig);
  });
}

function exec(c: ssh2.Client, command: string, pty = false): Promise<ssh2.ClientChannel> {
  return new Promise((res, rej) => c.exec(command, pty ? { pty: { term: "xterm", rows: 24, cols: 80 } } : {}, (err, ch) => (err ? rej(err) : res(ch))));
}

/** Round trips of one byte through `cat`, in milliseconds. */
async function keystrokes(path: Path, key: string, n: number): Promise<number[]> {
  const c = await connect(path, key);
  const ch = await exec(c, "cat");
  const times: number[] = [];
  let waiting: (() => void) | null = null;
  ch.on("data", () => waiting?.());
  for (let i = 0; i < n + 100; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      waiting = r;
      ch.write("x");
    });
    if (i >= 100) times.push(performance.now() - t0);
  }
  ch.end();
  c.end();
  return times;
}

/** Logins per second: connect, log in, run `true`, close; `concurrency` at a time. */
async function handshakes(path: Path, key: string, n: number, concurrency: number): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next++ < n) {
      const c = await connect(path, key);
      const ch = await exec(c, "true");
      await new Promise((r) => {
        ch.on("close", r);
        ch.resume();
      });
      c.end();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return n / ((performance.now() - t0) / 1000);
}

async function run(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), USAGE);
  const bulkMb = intOption(args, "bulk-mb", 256);
  const rounds = intOption(args, "rounds", 3);
  const strokes = intOption(args, "keystrokes", 2000);
  const logins = intOption(args, "handshakes", 100);
  const concurrency = intOption(args, "concurrency", 4);
  const sessions = intOption(args, "sessions", 500);
  const nodeArgs = gatewayNodeArgs(args, "cpu-prof");
  if (process.getuid?.() !== 0) fail("the SSH benchmark starts a private sshd and needs root");

  let gw: Gateway | null = null;
  let remote: Gateway | null = null;
  let stand: Awaited<ReturnType<typeof nullClickHouse>> | null = null;
  let sshd: PrivateSshd | null = null;
  const work = mkdtempSync(join(tmpdir(), "jitgate-bench-ssh-keys-"));
  try {
    gw = await startGateway(nodeArgs);
    stand = await nullClickHouse();
    remote = await startGateway(gatewayNodeArgs(args, null), stand.url);
    const benchCa = SshCertificateAuthority.generate().ca;
    const targetCas = await Promise.all([gw, remote].map((g) => callApi<{ publicKey: string }>(g.api, "GET", "/api/v1/ca/ssh-target")));
    sshd = await startSshd({ users: [LOGIN], trustedUserCaKeys: [...targetCas.map((c) => c.publicKey), benchCa.publicKeyLine()], extraConfig: ["MaxStartups 2000:30:2000", "MaxSessions 100"] });
    const hostKey = sshd.hostKeyLine;
    const sshdPort = sshd.port;

    const pair = ssh2.utils.generateKeyPairSync("ed25519");
    const keyFile = join(work, "id_ed25519");
    writeFileSync(keyFile, pair.private, { mode: 0o600 });
    /** The target, its account, a policy and a grant on a gateway, and a certificate for the grant. */
    const enrol = async (g: Gateway, name: string): Promise<Path> => {
      await callApi(g.api, "POST", "/api/v1/targets", { name: TARGET, kind: "ssh", address: `127.0.0.1:${sshdPort}` });
      await callApi(g.api, "POST", `/api/v1/targets/${TARGET}/accounts`, { login: LOGIN, auth: "certificate", options: { hostKey } });
      const yaml = `policies:\n  - name: bench\n    subjects: { users: [admin] }\n    targets: [${TARGET}]\n    logins: [${LOGIN}]\n    maxDuration: 8h\n    approvals: { count: 0 }\n`;
      await callApi(g.api, "POST", "/api/v1/policies/apply", { file: "bench.yaml", yaml });
      const request = await callApi<{ grantId: string }>(g.api, "POST", "/api/v1/requests", { target: TARGET, login: LOGIN, duration: "8h", reason: "benchmark" });
      const cert = (await callApi<{ certificate: string }>(g.api, "POST", `/api/v1/grants/${request.grantId}/ssh-certificate`, { publicKey: pair.public })).certificate;
      const certFile = join(work, `${name}-cert.pub`);
      writeFileSync(certFile, `${cert}\n`);
      return { name, port: g.sshPort, user: `${LOGIN}@${TARGET}`, certFile, cert };
    };
    const directCert = benchCa.userCertificate({ publicKeyLine: pair.public, user: "bench", grantId: "direct", principals: [LOGIN], notAfter: Date.now() + 8 * 3600_000 }).certificateLine;
    writeFileSync(join(work, "direct-cert.pub"), `${directCert}\n`);
    const direct: Path = { name: "direct", port: sshdPort, user: LOGIN, certFile: join(work, "direct-cert.pub"), cert: directCert };
    const gateway = await enrol(gw, "jitgate");
    const shipped = await enrol(remote, "shipped");
    const paths = [direct, gateway];

    // 4. Memory, measured first: the gateway's resident set with N idle pty shells against none.
    // After the bulk phase the embedded ClickHouse gives back memory for a while, and that drift
    // (hundreds of MiB) would swamp the sessions' share.
    const pid = gw.proc.pid ?? 0;
    // The embedded ClickHouse and the collector move the resident set too: medians of a few samples.
    const settled = async () => {
      const xs: number[] = [];
      for (let i = 0; i < 7; i++) {
        await sleep(500);
        xs.push(rssBytes(pid));
      }
      return median(xs);
    };
    const before = await settled();
    const open: ssh2.Client[] = [];
    for (let i = 0; i < sessions; i += 20) {
      const batch = await Promise.all(Array.from({ length: Math.min(20, sessions - i) }, async () => {
        const c = await connect(gateway, pair.private);
        await new Promise<void>((res, rej) => c.shell({ term: "xterm", rows: 24, cols: 80 }, (err, ch) => (err ? rej(err) : (ch.resume(), res()))));
        return c;
      }));
      open.push(...batch);
    }
    const after = await settled();
    for (const c of open) c.end();
    const perSession = (after - before) / sessions / 1024 / 1024;

    // 1. Bulk: seconds for N MiB, less the seconds for `true` (handshake and teardown). Also
    // through a gateway whose recordings go to a ClickHouse elsewhere (the stand-in).
    // The CPU the bulk read costs, per MiB: the whole machine's (client, sshd, gateway and the
    // rest), and the gateway's by thread; a run of `true` is subtracted from each.
    const bulkPaths = [direct, gateway, shipped];
    const bulk = new Map<string, number[]>(bulkPaths.map((p) => [p.name, []]));
    const cpuPerMib = new Map<string, Map<string, number>>(bulkPaths.map((p) => [p.name, new Map()]));
    const gatewayPid = (p: Path) => (p === gateway ? (gw?.proc.pid ?? 0) : p === shipped ? (remote?.proc.pid ?? 0) : 0);
    const measured = async (p: Path, command: string) => {
      const pid = gatewayPid(p);
      const m0 = machineCpu();
      const g0 = pid ? threadCpu(pid) : new Map<string, number>();
      const seconds = await timeSsh(p, keyFile, command);
      const cpu = new Map<string, number>([["machine", machineCpu() - m0]]);
      if (pid) for (const [name, sec] of threadCpu(pid)) cpu.set(name, sec - (g0.get(name) ?? 0));
      return { seconds, cpu };
    };
    for (let r = 0; r < rounds; r++) {
      for (const p of r % 2 === 0 ? bulkPaths : [...bulkPaths].reverse()) {
        const base = await measured(p, "true");
        const run = await measured(p, `head -c ${bulkMb}M /dev/zero`);
        bulk.get(p.name)?.push(bulkMb / Math.max(1e-3, run.seconds - base.seconds));
        const per = cpuPerMib.get(p.name) as Map<string, number>;
        for (const [name, sec] of run.cpu) per.set(name, (per.get(name) ?? 0) + (sec - (base.cpu.get(name) ?? 0)) * 1000 / bulkMb / rounds);
      }
    }
    // 2. Keystrokes, alternating halves; also through the gateway whose recordings go elsewhere,
    // to tell the embedded ClickHouse's share of the tail.
    const rtt = new Map<string, number[]>(bulkPaths.map((p) => [p.name, []]));
    for (const p of [...bulkPaths, ...[...bulkPaths].reverse()]) rtt.get(p.name)?.push(...(await keystrokes(p, pair.private, Math.ceil(strokes / 2))));
    await stopGateway(remote);
    remote = null;
    // 3. Handshakes.
    const hs = new Map<string, number[]>(paths.map((p) => [p.name, []]));
    for (const p of [direct, gateway, gateway, direct]) hs.get(p.name)?.push(await handshakes(p, pair.private, Math.ceil(logins / 2), concurrency));

    const d = (name: string, m: Map<string, number[]>) => median(m.get(name) ?? []);
    const rd = summarize(rtt.get("direct") ?? []);
    const rg = summarize(rtt.get("jitgate") ?? []);
    const rs = summarize(rtt.get("shipped") ?? []);
    printGrid(`SSH through the gateway vs direct sshd (${bulkMb} MiB x ${rounds} rounds, ${strokes} keystrokes, ${logins} logins at ${concurrency}, ${sessions} idle sessions)`,
      ["measure", "jitgate", "direct", "ratio"], [
        ["bulk throughput, recorded (MiB/s)", d("jitgate", bulk).toFixed(0), d("direct", bulk).toFixed(0), ratio(d("jitgate", bulk), d("direct", bulk))],
        ["bulk throughput, recordings sent to a remote ClickHouse (stand-in) (MiB/s)", d("shipped", bulk).toFixed(0), d("direct", bulk).toFixed(0), ratio(d("shipped", bulk), d("direct", bulk))],
        ["keystroke round trip p50 (ms)", rg.p50.toFixed(3), rd.p50.toFixed(3), ratio(rg.p50, rd.p50)],
        ["keystroke round trip p99 (ms)", rg.p99.toFixed(3), rd.p99.toFixed(3), ratio(rg.p99, rd.p99)],
        ["keystroke round trip p50 / p99, recordings sent elsewhere (ms)", `${rs.p50.toFixed(3)} / ${rs.p99.toFixed(3)}`, `${rd.p50.toFixed(3)} / ${rd.p99.toFixed(3)}`, ratio(rs.p99, rd.p99)],
        ["handshakes per second", d("jitgate", hs).toFixed(1), d("direct", hs).toFixed(1), ratio(d("jitgate", hs), d("direct", hs))],
        [`gateway memory per idle recorded session (MiB, ${sessions} open)`, perSession.toFixed(2), "-", "-"],
      ]);
    printCpuPerMib(cpuPerMib);
    const bulkRatio = d("jitgate", bulk) / d("direct", bulk);
    const added = rg.p99 - rd.p99;
    console.log(`\nembedded ClickHouse on this host: bulk at ${ratio(d("jitgate", bulk), d("shipped", bulk))} of the rate with recordings sent elsewhere (the stand-in took ${stand.inserts()} inserts)`);
    console.log(`goals: bulk >= 0.85x direct: ${bulkRatio >= 0.85 ? "met" : "MISSED"} (${bulkRatio.toFixed(2)}x); keystroke p99 added <= 1 ms: ${added <= 1 ? "met" : "MISSED"} (${added.toFixed(3)} ms); memory per idle session <= 1 MiB: ${perSession <= 1 ? "met" : "MISSED"} (${perSession.toFixed(2)} MiB)`);
  } finally {
    if (gw) await stopGateway(gw);
    if (remote) await stopGateway(remote);
    await stand?.close();
    await sshd?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * CPU milliseconds per MiB of bulk: the machine's, the gateway's, and its threads' above 0.5 ms.
 * With every core busy, the rate a path can reach is the cores over its machine CPU per MiB.
 */
function printCpuPerMib(cpu: Map<string, Map<string, number>>): void {
  const threads = new Set<string>();
  for (const per of cpu.values()) for (const [name, ms] of per) if (name !== "machine" && ms >= 0.5) threads.add(name);
  const names = [...threads].sort((a, b) => (a === "main" ? -1 : b === "main" ? 1 : a.localeCompare(b)));
  const gatewayMs = (per: Map<string, number>) => [...per].filter(([name]) => name !== "machine").reduce((sum, [, ms]) => sum + ms, 0);
  const fmt = (ms: number | undefined) => (ms === undefined ? "-" : Math.max(0, ms).toFixed(1));
  printGrid("\nCPU per MiB of bulk (ms; all cores, less a run of `true`)", ["path", "machine", "gateway", ...names.map((n) => `gateway: ${n}`)],
    [...cpu].map(([path, per]) => [path, fmt(per.get("machine")), per.size > 1 ? fmt(gatewayMs(per)) : "-", ...names.map((n) => fmt(per.get(n)))]));
}

async function stopGateway(g: Gateway): Promise<void> {
  const exited = new Promise<void>((res) => (g.proc.exitCode !== null ? res() : g.proc.once("exit", () => res())));
  g.proc.kill("SIGTERM");
  await exited;
  rmSync(g.dir, { recursive: true, force: true });
}

main(run);
