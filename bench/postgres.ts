// pgbench through the gateway against the direct path and pgbouncer, in one run:
// select-only over the simple and the prepared protocol (`pgbench -S -M simple|prepared`)
// and the default TPC-B-like transaction, each on a private scram-sha-256 cluster started
// and removed by the run. The gateway runs as `jitgate serve` (a process of its own, as in
// production) with recording on, logging in upstream with the vault's password; pgbouncer
// (Debian's package: apt-get install -y pgbouncer) runs in session pooling mode; a bare Node
// pipe (no parsing, no recording) shows what any relay on Node costs on the machine. Clients
// use no TLS on any path. Rounds interleave the paths so noise on the shared machine lands
// on all of them; the table shows medians. Goal: gateway >= 0.9x pgbouncer.
//
//   node dist/bench/postgres.js [--clients N] [--seconds N] [--rounds N] [--scale N] [--profile DIR] [--recordings here|elsewhere] [--node-flags "FLAGS"]
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { fail, gatewayNodeArgs, intOption, main, median, nullClickHouse, parseArgs } from "./common.js";
import { startPrivateCluster, type PrivateCluster } from "./private-postgres.js";
import { processCpu, processNamed, threadCpu } from "./proc-cpu.js";
import { printGrid } from "./table.js";

const run = promisify(execFile);
const MAIN = resolve(import.meta.dirname, "../gateway/cli/main.js");
const PASSWORD = "bench-app-password";
const ADMIN_PASSWORD = "bench-admin-password-1";
const GOAL = 0.9;

const USAGE = `usage: node dist/bench/postgres.js [--clients N] [--seconds N] [--rounds N] [--scale N] [--profile DIR] [--recordings here|elsewhere] [--node-flags "FLAGS"]

pgbench -S (simple and prepared) and the default TPC-B-like run with N clients (default 8)
for --seconds each (default 8), --rounds times (default 2), directly, through pgbouncer,
through a bare Node pipe and through jitgate, on a private cluster initialised at --scale (default 10). Needs pgbench
and pgbouncer (apt-get install -y pgbouncer). --profile DIR writes a CPU profile of the
gateway process there (node --cpu-prof). --recordings elsewhere sends the gateway's recordings
to a stand-in for a ClickHouse server on another host (it takes the inserts and keeps nothing),
to separate the cost of storing them on this host from the rest. --node-flags "FLAGS"
replaces the V8 setting the gateway runs with (--initial-old-space-size=256) by FLAGS.`;

const WORKLOADS = [
  { name: "select-only, simple", args: ["-S", "-M", "simple"] },
  { name: "select-only, prepared", args: ["-S", "-M", "prepared"] },
  { name: "TPC-B-like, simple", args: ["-M", "simple"] },
] as const;
type Path = "direct" | "pgbouncer" | "node pipe" | "jitgate";
const PATHS: Path[] = ["direct", "pgbouncer", "node pipe", "jitgate"];

/**
 * The floor of any relay written for Node: a process that pipes each client socket to the
 * server and back, with no parsing, authentication or recording.
 */
const NODE_PIPE = `
const net = require("node:net");
const server = net.createServer((c) => {
  const u = net.connect(Number(process.env.UPSTREAM_PORT), "127.0.0.1");
  c.setNoDelay(true);
  u.setNoDelay(true);
  c.pipe(u).on("error", () => c.destroy());
  u.pipe(c).on("error", () => u.destroy());
});
server.listen(0, "127.0.0.1", () => console.log("pipe on " + server.address().port));`;

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

async function requireTool(name: string, hint: string): Promise<void> {
  await run("sh", ["-c", `command -v ${name}`]).catch(() => fail(`${name} is not installed: ${hint}`));
}

/** A child process that is ready once `ready` matches its output. */
function startProcess(cmd: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${cmd} did not start within 60 s:\n${out}`)), 60_000);
    const see = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        res({ child, out: () => out });
      }
    };
    child.stdout?.on("data", see);
    child.stderr?.on("data", see);
    child.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`${cmd} exited with ${code}:\n${out}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    child.once("exit", () => res());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
  });
}

async function cli(home: string, args: string[], input = ""): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, JITGATE_HOME: home, JITGATE_PASSWORD: ADMIN_PASSWORD } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.stdin.end(input);
    child.on("exit", (code) => (code === 0 ? res(out) : rej(new Error(`jitgate ${args.join(" ")} failed: ${err}`))));
  });
}

/** pgbouncer refuses to run as root: it runs as the postgres user then, like the cluster. */
function asPostgres(dir: string): [string, string[]] {
  if (process.getuid?.() !== 0) return ["pgbouncer", []];
  const [, , uid, gid] = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"))?.split(":") ?? [];
  chownSync(dir, Number(uid), Number(gid));
  return ["runuser", ["-u", "postgres", "--", "pgbouncer"]];
}

async function startPgbouncer(dir: string, cluster: PrivateCluster, clients: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  writeFileSync(join(dir, "users.txt"), `"app" "${PASSWORD}"\n`);
  writeFileSync(join(dir, "pgbouncer.ini"), [
    "[databases]",
    `bench = host=127.0.0.1 port=${cluster.port} dbname=bench`,
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${port}`,
    "unix_socket_dir =",
    "auth_type = scram-sha-256",
    `auth_file = ${join(dir, "users.txt")}`,
    "pool_mode = session",
    `max_client_conn = ${clients + 10}`,
    `default_pool_size = ${clients + 2}`,
    "server_tls_sslmode = disable",
    `logfile = ${join(dir, "pgbouncer.log")}`,
    "",
  ].join("\n"));
  for (const f of ["users.txt", "pgbouncer.ini"]) chmodSync(join(dir, f), 0o644);
  const [cmd, pre] = asPostgres(dir);
  const { child } = await startProcess(cmd, [...pre, join(dir, "pgbouncer.ini")], /process up|listening on/i);
  return { port, child };
}

async function startJitgate(dir: string, cluster: PrivateCluster, nodeArgs: string[], clickhouseUrl: string | null): Promise<{ port: number; token: string; child: ChildProcess }> {
  const data = join(dir, "jg-data");
  writeFileSync(join(dir, "jg.yaml"), `log: { level: warn }\n${clickhouseUrl ? `clickhouse: { url: "${clickhouseUrl}" }\n` : ""}`);
  const env = { ...process.env, JITGATE_ADMIN_PASSWORD: ADMIN_PASSWORD, JITGATE_VAULT_PASSPHRASE: "", JITGATE_DATABASE_URL: "" };
  const { child, out } = await startProcess(process.execPath, [...nodeArgs, MAIN, "serve", "--data", data, "--config", join(dir, "jg.yaml"), "--host", "127.0.0.1", "--api-port", "0", "--ssh-port", "0", "--pg-port", "0", "--http-port", "0"], /API on https:\/\/\S+/, env);
  const api = /API on (https:\/\/\S+)/.exec(out())?.[1] ?? "";
  const port = Number(/^postgres on 127\.0\.0\.1:(\d+)$/m.exec(out())?.[1]);
  if (!port) fail(`the gateway did not report its postgres port:\n${out()}`);
  const home = join(dir, "jg-home");
  await cli(home, ["login", "--server", api, "--user", "admin", "--ca", join(data, "ca.pem")]);
  writeFileSync(join(dir, "p.yaml"), "policies:\n  - name: bench\n    subjects: { roles: [admin] }\n    targets: [bench-db]\n    logins: [app]\n    maxDuration: 2h\n    requireReason: false\n    approvals: { count: 0 }\n");
  await cli(home, ["policies", "apply", join(dir, "p.yaml")]);
  await cli(home, ["targets", "add", "bench-db", "--kind", "postgres", "--address", `127.0.0.1:${cluster.port}`]);
  await cli(home, ["accounts", "add", "bench-db", "app", "--auth", "password", "--secret-stdin"], PASSWORD);
  await cli(home, ["request", "bench-db", "--login", "app", "--for", "2h"]);
  const conn = JSON.parse(await cli(home, ["pg", "bench-db", "--db", "bench", "--port", String(port), "--json"])) as { password: string };
  return { port, token: conn.password, child };
}

async function pgbench(target: { port: number; user: string; db: string; password: string }, args: readonly string[], clients: number, seconds: number): Promise<number> {
  const jobs = Math.min(2, clients);
  const { stdout } = await run("pgbench", ["-h", "127.0.0.1", "-p", String(target.port), "-U", target.user, "-n", "-c", String(clients), "-j", String(jobs), "-T", String(seconds), ...args, target.db], {
    env: { ...process.env, PGPASSWORD: target.password, PGSSLMODE: "disable" },
    maxBuffer: 16 << 20,
  });
  const m = /tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/.exec(stdout);
  if (!m) fail(`cannot read pgbench's output:\n${stdout}`);
  return Number(m[1]);
}

main(async () => {
  const args = parseArgs(process.argv.slice(2), USAGE);
  const clients = intOption(args, "clients", 8);
  const seconds = intOption(args, "seconds", 8);
  const rounds = intOption(args, "rounds", 2);
  const scale = intOption(args, "scale", 10);
  await requireTool("pgbench", "apt-get install -y postgresql-contrib (or the postgresql package)");
  await requireTool("pgbouncer", "apt-get install -y pgbouncer");
  const dir = mkdtempSync(join(tmpdir(), "jg-bench-pg-"));
  chmodSync(dir, 0o755);
  const children: ChildProcess[] = [];
  let cluster: PrivateCluster | null = null;
  const where = args.options.get("recordings") ?? "here";
  if (where !== "here" && where !== "elsewhere") fail(`--recordings is here or elsewhere (got ${JSON.stringify(where)})\n\n${USAGE}`);
  let stand: Awaited<ReturnType<typeof nullClickHouse>> | null = null;
  try {
    cluster = await startPrivateCluster({ auth: "scram-sha-256", superuserPassword: PASSWORD });
    const su = { port: cluster.port, user: "postgres", password: PASSWORD };
    await run("psql", ["-h", "127.0.0.1", "-p", String(cluster.port), "-U", "postgres", "-Xqc", `CREATE ROLE app LOGIN PASSWORD '${PASSWORD}'`, "-c", "CREATE DATABASE bench OWNER app", "postgres"], { env: { ...process.env, PGPASSWORD: su.password } });
    console.log(`initialising pgbench at scale ${scale}...`);
    await run("pgbench", ["-h", "127.0.0.1", "-p", String(cluster.port), "-U", "app", "-i", "-q", "-s", String(scale), "bench"], { env: { ...process.env, PGPASSWORD: PASSWORD } });
    const bouncer = await startPgbouncer(dir, cluster, clients);
    children.push(bouncer.child);
    stand = where === "elsewhere" ? await nullClickHouse() : null;
    const pipe = await startProcess(process.execPath, ["-e", NODE_PIPE], /pipe on \d+/, { ...process.env, UPSTREAM_PORT: String(cluster.port) });
    children.push(pipe.child);
    // As root, pgbouncer runs under runuser: its CPU is the child's.
    const bouncerPid = processNamed(bouncer.child.pid ?? 0, "pgbouncer");
    const jg = await startJitgate(dir, cluster, gatewayNodeArgs(args, "profile"), stand?.url ?? null);
    children.push(jg.child);
    const targets: Record<Path, { port: number; user: string; db: string; password: string }> = {
      direct: { port: cluster.port, user: "app", db: "bench", password: PASSWORD },
      pgbouncer: { port: bouncer.port, user: "app", db: "bench", password: PASSWORD },
      "node pipe": { port: Number(/pipe on (\d+)/.exec(pipe.out())?.[1]), user: "app", db: "bench", password: PASSWORD },
      jitgate: { port: jg.port, user: "admin", db: "bench-db/bench", password: jg.token },
    };
    const tps = new Map<string, number[]>();
    const cpu = new Map<string, number>();
    const perTx = new Map<Path, { user: number; system: number; tx: number }>();
    for (let r = 1; r <= rounds; r++) {
      for (const w of WORKLOADS) {
        for (const p of r % 2 === 1 ? PATHS : [...PATHS].reverse()) {
          const before = p === "jitgate" ? threadCpu(jg.child.pid ?? 0) : null;
          const proxy = p === "jitgate" ? jg.child.pid : p === "pgbouncer" ? bouncerPid : p === "node pipe" ? pipe.child.pid : undefined;
          const cpu0 = proxy ? processCpu(proxy) : null;
          const v = await pgbench(targets[p], w.args, clients, seconds);
          if (proxy && cpu0) {
            const cpu1 = processCpu(proxy);
            const acc = perTx.get(p) ?? { user: 0, system: 0, tx: 0 };
            perTx.set(p, { user: acc.user + cpu1.user - cpu0.user, system: acc.system + cpu1.system - cpu0.system, tx: acc.tx + v * seconds });
          }
          if (before) for (const [name, sec] of threadCpu(jg.child.pid ?? 0)) cpu.set(name, (cpu.get(name) ?? 0) + sec - (before.get(name) ?? 0));
          console.log(`round ${r}  ${w.name.padEnd(22)} ${p.padEnd(9)} ${v.toFixed(0)} tps`);
          tps.set(`${w.name}/${p}`, [...(tps.get(`${w.name}/${p}`) ?? []), v]);
        }
      }
    }
    const med = (w: string, p: Path) => median(tps.get(`${w}/${p}`) ?? [0]);
    const rows = WORKLOADS.map((w) => {
      const [d, b, n, j] = [med(w.name, "direct"), med(w.name, "pgbouncer"), med(w.name, "node pipe"), med(w.name, "jitgate")];
      return [w.name, d.toFixed(0), b.toFixed(0), n.toFixed(0), j.toFixed(0), `${(n / b).toFixed(2)}x`, `${(j / b).toFixed(2)}x`, `${(j / d).toFixed(2)}x`];
    });
    printGrid(`pgbench TPS, ${clients} clients, ${seconds} s x ${rounds} rounds (median), no TLS, recordings stored ${where === "here" ? "on this host (embedded ClickHouse)" : "elsewhere (a stand-in that keeps nothing)"}`, ["workload", "direct", "pgbouncer", "node pipe", "jitgate", "node pipe/pgbouncer", "jitgate/pgbouncer", "jitgate/direct"], rows);
    const busy = [...cpu].filter(([, sec]) => sec >= 0.05).sort((a, b) => b[1] - a[1]);
    const wall = rounds * WORKLOADS.length * seconds;
    printGrid(`where the gateway's CPU went while pgbench ran through it (${wall} s)`, ["thread", "CPU s", "of one core"], busy.map(([name, sec]) => [name, sec.toFixed(1), `${((sec / wall) * 100).toFixed(0)}%`]));
    printGrid("the proxy's CPU per transaction, all workloads (µs)", ["path", "user space", "kernel", "total"], [...perTx].map(([p, c]) => {
      const us = (sec: number) => ((sec / c.tx) * 1e6).toFixed(0);
      return [p, us(c.user), us(c.system), us(c.user + c.system)];
    }));
    const worst = Math.min(...WORKLOADS.map((w) => med(w.name, "jitgate") / med(w.name, "pgbouncer")));
    console.log(`\ngoal: jitgate >= ${GOAL}x pgbouncer: ${worst >= GOAL ? "met" : "NOT met"} (worst ${worst.toFixed(2)}x)`);
    console.log("reproduce: npm run build && node dist/bench/postgres.js");
  } finally {
    for (const c of children.reverse()) await stop(c);
    await cluster?.stop();
    await stand?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
