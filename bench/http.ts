// HTTP requests per second: the direct path (autocannon against the upstream itself)
// against the same upstream behind
//   1. each candidate relay library, bare: a TLS listener that strips the client's
//      Authorization and injects the account's basic auth, then relays (http-proxy,
//      http-proxy-3, undici's Pool.dispatch) — what the library costs on its own;
//   2. the jitgate gateway itself (undici inside), with sign-in by x-jitgate-token, the
//      live-grant check, injection, the session and its recording on every request.
// Small (2 bytes) and 100 KB responses. Every client request carries a wrong
// Authorization header: a relay that fails to replace it gets 401s, counted as non-2xx.
// Upstream, relays, gateway and autocannon each run in their own process.
//
//   node dist/bench/http.js [--duration S] [--connections N] [--rounds N]
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent as HttpAgent, createServer as createHttp, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import HttpProxy from "http-proxy";
import { Pool, type Dispatcher } from "undici";
import { callApi } from "../gateway/cli/client.js";
import { createCertificateAuthority, issueServerCertificate } from "../vault/index.js";
import { gatewayNodeArgs, intOption, main, parseArgs } from "./common.js";
import { machineCpu, threadCpu } from "./proc-cpu.js";
import { printGrid } from "./table.js";

const USAGE = `usage: node dist/bench/http.js [--duration S] [--connections N] [--rounds N] [--cpu-prof DIR] [--node-flags "FLAGS"]

autocannon for S seconds (default 10) with N connections (default 50) per measure, --rounds
times (default 1, the best round kept): direct, http-proxy, http-proxy-3, undici (bare relays
with basic-auth injection), and the jitgate gateway, for 2-byte and 100 KB responses.
--cpu-prof writes the gateway process's CPU profile into DIR when it exits; --node-flags "FLAGS"
replaces the V8 setting the gateway runs with (--initial-old-space-size=256) by FLAGS.`;

const USER = "svc";
const PASSWORD = "bench-upstream-password";
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
const WRONG_AUTH = `Basic ${Buffer.from("client:made-up").toString("base64")}`;
const BIG = Buffer.alloc(100 * 1024, 120);
const SELF = fileURLToPath(import.meta.url);
const CANDIDATES = ["http-proxy", "http-proxy-3", "undici"] as const;
const GOAL = 0.4;

// ---------------------------------------------------------------- child processes

/** The target: plain HTTP (what relays reach) and the same over TLS (the direct path a browser would take). */
function upstream(tls: { key: string; cert: string }): void {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== AUTH) return void res.writeHead(401, { "content-length": 0 }).end();
    if (req.url === "/big") return void res.writeHead(200, { "content-type": "application/octet-stream", "content-length": BIG.length }).end(BIG);
    res.writeHead(200, { "content-type": "text/plain", "content-length": 2 }).end("ok");
  };
  const plain = createHttp({ keepAliveTimeout: 30_000 }, handler);
  const secure = createHttps({ ...tls, keepAliveTimeout: 30_000 }, handler);
  plain.listen(0, "127.0.0.1", () =>
    secure.listen(0, "127.0.0.1", () => process.send?.([(plain.address() as AddressInfo).port, (secure.address() as AddressInfo).port])));
}

async function relayProcess(kind: string, target: string, tls: { key: string; cert: string }): Promise<void> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  const refuse = (res: ServerResponse) => {
    if (!res.headersSent) res.writeHead(502, { "content-length": 0 });
    res.end();
  };
  if (kind === "http-proxy" || kind === "http-proxy-3") {
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 256 });
    // http-proxy-3 keeps http-proxy's API; one type serves both.
    const create: typeof HttpProxy.createProxyServer = kind === "http-proxy" ? HttpProxy.createProxyServer : ((await import("http-proxy-3")).createProxyServer as unknown as typeof HttpProxy.createProxyServer);
    const proxy = create({ target, agent });
    proxy.on("proxyReq", (proxyReq) => proxyReq.setHeader("authorization", AUTH));
    proxy.on("error", (_err, _req, res) => refuse(res as ServerResponse));
    handler = (req, res) => proxy.web(req, res);
  } else {
    const pool = new Pool(target, { keepAliveTimeout: 4_000 });
    handler = (req, res) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== "connection" && k !== "host" && k !== "authorization") headers[k] = v;
      headers.authorization = AUTH;
      pool.dispatch({ path: req.url ?? "/", method: req.method as Dispatcher.HttpMethod, headers, body: null }, {
        // Its presence tells undici this handler speaks the controller API.
        onRequestStart() {},
        onResponseStart(_c, status, h) {
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(h)) if (v !== undefined && k !== "connection" && k !== "keep-alive" && k !== "transfer-encoding") out[k] = v;
          res.writeHead(status, out);
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) {
            c.pause();
            res.once("drain", () => c.resume());
          }
        },
        onResponseEnd: () => res.end(),
        onResponseError: () => refuse(res),
      });
    };
  }
  const server = createHttps({ key: tls.key, cert: tls.cert, keepAliveTimeout: 30_000 }, handler);
  server.listen(0, "127.0.0.1", () => process.send?.((server.address() as AddressInfo).port));
}

function child<T = number>(args: string[]): Promise<{ proc: ChildProcess; port: T }> {
  return new Promise((resolvePort, reject) => {
    const proc = fork(SELF, ["--role", ...args], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    proc.once("message", (port) => resolvePort({ proc, port: port as T }));
    proc.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code} before listening`)));
  });
}

// ---------------------------------------------------------------- the gateway

interface Gateway {
  proc: ChildProcess;
  base: string;
  token: string;
  stop(): void;
}

async function startGateway(upstreamPort: number, nodeArgs: string[]): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), "jitgate-bench-http-"));
  const config = join(dir, "config.yaml");
  writeFileSync(config, "log: { level: error }\n");
  const mainJs = resolve(SELF, "../../gateway/cli/main.js");
  const adminPassword = "bench-admin-password-0001";
  const proc = spawn(process.execPath, [...nodeArgs, mainJs, "serve", "--data", join(dir, "data"), "--host", "127.0.0.1", "--config", config,
    "--api-port", "0", "--http-port", "0", "--ssh-port", "0", "--pg-port", "0"], { env: { ...process.env, JITGATE_ADMIN_PASSWORD: adminPassword, JITGATE_DATABASE_URL: "" }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const ready = await new Promise<{ api: string; http: number }>((res, rej) => {
    proc.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const api = /API on (https:\/\/\S+)/.exec(out)?.[1];
      const http = /^http on 127\.0\.0\.1:(\d+)$/m.exec(out)?.[1];
      if (api && http) res({ api, http: Number(http) });
    });
    proc.once("exit", (code) => rej(new Error(`the gateway exited with ${code}: ${out}`)));
  });
  const caPem = (await import("node:fs")).readFileSync(join(dir, "data", "ca.pem"), "utf8");
  const anon = { server: ready.api, ca: caPem, token: null };
  const { token } = await callApi<{ token: string }>(anon, "POST", "/api/v1/auth/login", { user: "admin", password: adminPassword });
  const api = { ...anon, token };
  await callApi(api, "POST", "/api/v1/targets", { name: "bench-web", kind: "http", address: `127.0.0.1:${upstreamPort}` });
  await callApi(api, "POST", "/api/v1/targets/bench-web/accounts", { login: USER, auth: "password", secret: PASSWORD });
  const yaml = "policies:\n  - name: bench\n    subjects: { users: [admin] }\n    targets: [bench-web]\n    logins: [svc]\n    maxDuration: 8h\n    approvals: { count: 0 }\n";
  await callApi(api, "POST", "/api/v1/policies/apply", { file: "bench.yaml", yaml });
  await callApi(api, "POST", "/api/v1/requests", { target: "bench-web", login: USER, duration: "8h", reason: "benchmark" });
  return {
    proc,
    base: `https://127.0.0.1:${ready.http}/t/bench-web`,
    token,
    stop() {
      proc.kill("SIGTERM");
      proc.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    },
  };
}

// ---------------------------------------------------------------- measuring

interface Measure {
  rps: number;
  p99: number;
  mbps: number;
  bad: number;
  requests: number;
}

async function cannon(url: string, headers: Record<string, string>, seconds: number, connections: number): Promise<Measure> {
  const r = await autocannon({ url, headers, connections, duration: seconds, pipelining: 1 });
  return { rps: r.requests.average, p99: r.latency.p99, mbps: r.throughput.average / 1e6, bad: r.non2xx + r.errors + r.timeouts, requests: r.requests.total };
}

async function run(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), USAGE);
  const seconds = intOption(args, "duration", 10);
  const connections = intOption(args, "connections", 50);
  const rounds = intOption(args, "rounds", 1);
  const procs: ChildProcess[] = [];
  let gateway: Gateway | null = null;
  try {
    const ca = createCertificateAuthority();
    const cert = issueServerCertificate(ca, ["127.0.0.1"]);
    const tls = JSON.stringify({ key: cert.keyPem, cert: cert.certPem });
    const up = await child<[number, number]>(["upstream", tls]);
    procs.push(up.proc);
    const [plainPort, tlsPort] = up.port;
    const origin = `http://127.0.0.1:${plainPort}`;
    const relays: Record<string, { port: number; pid: number }> = {};
    for (const kind of CANDIDATES) {
      const r = await child(["relay", kind, origin, tls]);
      procs.push(r.proc);
      relays[kind] = { port: r.port, pid: r.proc.pid ?? 0 };
    }
    gateway = await startGateway(plainPort, gatewayNodeArgs(args, "cpu-prof"));
    const paths = [["small (2 B)", "/small"], ["100 KB", "/big"]] as const;
    // Each subject's relay process (0: none), for its CPU per request.
    const subjects: [string, (path: string) => string, Record<string, string>, number][] = [
      ["direct", (p) => origin + p, { authorization: AUTH }, 0],
      ["direct (TLS)", (p) => `https://127.0.0.1:${tlsPort}${p}`, { authorization: AUTH }, 0],
      ...CANDIDATES.map((k): [string, (path: string) => string, Record<string, string>, number] =>
        [`${k} (bare)`, (p) => `https://127.0.0.1:${relays[k]?.port}${p}`, { authorization: WRONG_AUTH }, relays[k]?.pid ?? 0]),
      ["jitgate (undici)", (p) => `${gateway?.base}${p}`, { authorization: WRONG_AUTH, "x-jitgate-token": gateway.token }, gateway.proc.pid ?? 0],
    ];
    const best = new Map<string, Measure>();
    /** Per size and subject: CPU seconds by thread ("machine" for all cores), and requests served meanwhile. */
    const cpu = new Map<string, { threads: Map<string, number>; requests: number }>();
    for (let round = 0; round < rounds; round++) {
      for (const [size, path] of paths) {
        for (const [name, url, headers, pid] of subjects) {
          // A short warm-up opens the connections and lets the JIT settle.
          await cannon(url(path), headers, 1, connections);
          const m0 = machineCpu();
          const t0 = pid ? threadCpu(pid) : new Map<string, number>();
          const m = await cannon(url(path), headers, seconds, connections);
          const key = `${size}\0${name}`;
          const c = cpu.get(key) ?? { threads: new Map<string, number>(), requests: 0 };
          c.threads.set("machine", (c.threads.get("machine") ?? 0) + machineCpu() - m0);
          if (pid) for (const [thread, sec] of threadCpu(pid)) c.threads.set(thread, (c.threads.get(thread) ?? 0) + sec - (t0.get(thread) ?? 0));
          c.requests += m.requests;
          cpu.set(key, c);
          const prev = best.get(key);
          if (!prev || m.rps > prev.rps) best.set(key, m);
        }
      }
    }
    const rows: string[][] = [];
    let gatewaySmall = 0;
    const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : "-");
    for (const [size] of paths) {
      const direct = best.get(`${size}\0direct`)?.rps ?? 0;
      const directTls = best.get(`${size}\0direct (TLS)`)?.rps ?? 0;
      for (const [name] of subjects) {
        const m = best.get(`${size}\0${name}`);
        if (!m) continue;
        if (name.startsWith("jitgate") && size.startsWith("small")) gatewaySmall = m.rps / direct;
        rows.push([`${size}: ${name}`, m.rps.toFixed(0), m.mbps.toFixed(1), m.p99.toFixed(1), String(m.bad), ratio(m.rps, direct), ratio(m.rps, directTls)]);
      }
    }
    printGrid(`HTTP relay: requests per second, ${connections} connections, ${seconds} s per measure (best of ${rounds})`,
      ["measure", "req/s", "MB/s", "p99 ms", "non-2xx+errors", "vs direct", "vs direct TLS"], rows);
    printCpuPerRequest(cpu);
    console.log(`\ngoal: jitgate small responses >= ${GOAL}x direct: ${gatewaySmall >= GOAL ? "met" : "MISSED"} (${gatewaySmall.toFixed(2)}x)`);
  } finally {
    gateway?.stop();
    for (const p of procs) p.kill();
  }
}

/** CPU microseconds per request: the machine's, the relay process's, its main thread's. */
function printCpuPerRequest(cpu: Map<string, { threads: Map<string, number>; requests: number }>): void {
  const rows = [...cpu].map(([key, { threads, requests }]) => {
    const us = (sec: number | undefined) => (sec === undefined || requests === 0 ? "-" : ((sec * 1e6) / requests).toFixed(0));
    const relay = [...threads].filter(([t]) => t !== "machine");
    return [key.replace("\0", ": "), us(threads.get("machine")), relay.length ? us(relay.reduce((a, [, s]) => a + s, 0)) : "-", us(threads.get("main"))];
  });
  printGrid("\nCPU per request (µs; all cores)", ["measure", "machine", "relay process", "its main thread"], rows);
}

const role = process.argv[2] === "--role" ? process.argv[3] : null;
if (role === "upstream") upstream(JSON.parse(process.argv[4] ?? "{}") as { key: string; cert: string });
else if (role === "relay") void relayProcess(process.argv[4] ?? "", process.argv[5] ?? "", JSON.parse(process.argv[6] ?? "{}") as { key: string; cert: string });
else main(run);
