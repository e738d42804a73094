// Hostile and broken requests to the HTTP engine, sent byte for byte over TLS: each is
// refused cleanly, nothing reaches the target, and the gateway keeps serving.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { AccessRequest } from "../policies/index.js";
import { Person, startGateway, tempDir, type GatewayProcess } from "./support/gateway.js";
import { curl, startHttpUpstream, type HttpUpstream } from "./support/http-upstream.js";

const POLICY = `
policies:
  - name: web
    subjects: { roles: [requester] }
    targets: [web-1, web-2]
    logins: [svc]
    maxDuration: 2h
    approvals: { count: 0 }
`;

describe("bad input to the HTTP engine", () => {
  const dir = tempDir("jg-http-bad");
  const admin = new Person("admin", "admin-password-0001");
  const alice = new Person("alice", "alice-password-0001");
  let gw: GatewayProcess;
  let up: HttpUpstream;
  let cookie: string;
  let ca: Buffer;

  /** Sends raw bytes over TLS; what came back by the time the gateway closed the connection. */
  function raw(parts: string[], gapMs = 0, maxMs = 20_000): Promise<{ text: string; closedAfterMs: number }> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const socket = connect({ host: "127.0.0.1", port: gw.ports.http, ca, servername: "localhost" });
      let text = "";
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`the gateway kept the connection open for ${maxMs} ms; got: ${text}`));
      }, maxMs);
      socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
      socket.on("error", () => {});
      socket.on("close", () => {
        clearTimeout(timer);
        resolve({ text, closedAfterMs: performance.now() - started });
      });
      socket.once("secureConnect", async () => {
        for (const p of parts) {
          if (socket.destroyed) return;
          socket.write(p);
          if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        }
      });
    });
  }
  const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

  beforeAll(async () => {
    up = await startHttpUpstream({ user: "svc", password: "upstream-secret-0001" });
    gw = await startGateway({ dataDir: join(dir, "data"), adminPassword: admin.password, extraConfig: ["http: { headersTimeout: 2s, requestTimeout: 4s }"] });
    ca = readFileSync(gw.caPath);
    expect((await admin.login(gw)).code).toBe(0);
    for (const t of ["web-1", "web-2"]) {
      await admin.ok(["targets", "add", t, "--kind", "http", "--address", `127.0.0.1:${up.port}`]);
      await admin.ok(["accounts", "add", t, "svc", "--auth", "password", "--secret-stdin"], { input: "upstream-secret-0001" });
    }
    await admin.ok(["users", "add", "alice", "--role", "requester", "--password-stdin"], { input: `${alice.password}\n` });
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    await admin.ok(["policies", "apply", join(dir, "policy.yaml")]);
    // alice's one-time password must be changed before she may do anything.
    await alice.run(["login", "--server", gw.url, "--user", "alice", "--ca", gw.caPath], { env: { JITGATE_PASSWORD: alice.password } });
    alice.password = `${alice.password}-changed`;
    await alice.run(["passwd"], { env: { JITGATE_PASSWORD: "alice-password-0001", JITGATE_NEW_PASSWORD: alice.password } });
    expect((await alice.login(gw)).code).toBe(0);
    await alice.ok<AccessRequest>(["request", "web-1", "--login", "svc", "--for", "30m", "--reason", "tests"]);
    const signIn = await curl(["--cacert", gw.caPath, "--data-urlencode", "user=alice", "--data-urlencode", `password=${alice.password}`, `https://127.0.0.1:${gw.ports.http}/.jitgate/login`]);
    cookie = (signIn.headers["set-cookie"]?.[0] ?? "").split(";")[0] ?? "";
    expect(cookie).toMatch(/^__Host-jitgate=jgt_/);
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.close();
    for (const p of [admin, alice]) p.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const head = (line: string, extra: string[] = []) => [line, "Host: 127.0.0.1", `Cookie: ${cookie}`, ...extra].join("\r\n") + "\r\n";

  it("a signed-in request with a grant goes through (the baseline for the refusals below)", async () => {
    const r = await raw([`${head("GET /t/web-1/echo HTTP/1.1", ["Connection: close"])}\r\n`]);
    expect(statusOf(r.text)).toBe(200);
  });

  it("refuses smuggling: Content-Length with Transfer-Encoding, two Content-Lengths, an odd Transfer-Encoding", async () => {
    const before = up.seen.length;
    const smuggle = "0\r\n\r\nGET /t/web-1/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const clte = await raw([`${head("POST /t/web-1/echo HTTP/1.1", [`Content-Length: ${smuggle.length}`, "Transfer-Encoding: chunked"])}\r\n${smuggle}`]);
    expect(statusOf(clte.text)).toBe(400);
    const twoLengths = await raw([`${head("POST /t/web-1/echo HTTP/1.1", ["Content-Length: 5", "Content-Length: 40"])}\r\nhello`]);
    expect(statusOf(twoLengths.text)).toBe(400);
    const oddTe = await raw([`${head("POST /t/web-1/echo HTTP/1.1", ["Transfer-Encoding: chunked, identity"])}\r\n5\r\nhello\r\n0\r\n\r\n`]);
    expect(statusOf(oddTe.text)).toBe(400);
    expect(up.seen.slice(before)).toEqual([]);
  });

  it("refuses oversized headers with 431", async () => {
    const before = up.seen.length;
    const r = await raw([`${head("GET /t/web-1/echo HTTP/1.1", [`X-Big: ${"a".repeat(20_000)}`])}\r\n`]);
    expect(statusOf(r.text)).toBe(431);
    expect(up.seen.length).toBe(before);
  });

  it("refuses host names that are not, two Host headers, and absolute-form request targets", async () => {
    const before = up.seen.length;
    for (const host of ["bad host", "a/b", "x@y", "-"]) {
      const r = await raw([`GET /t/web-1/echo HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\n\r\n`]);
      expect(statusOf(r.text), host).toBe(400);
      expect(r.text).toContain("INVALID_HOST");
    }
    const two = await raw([`${head("GET /t/web-1/echo HTTP/1.1", ["Host: web-2.example"])}\r\n`]);
    expect(statusOf(two.text)).toBe(400);
    const absolute = await raw([`${head(`GET http://127.0.0.1:${up.port}/echo HTTP/1.1`)}\r\n`]);
    expect(statusOf(absolute.text)).toBe(400);
    expect(up.seen.length).toBe(before);
  });

  it("refuses path traversal out of the prefix route, plain or encoded", async () => {
    const before = up.seen.length;
    for (const path of ["/t/web-1/../web-2/echo", "/t/web-1/%2e%2e/web-2/echo", "/t/web-1/..%2fweb-2/echo", "/t/web-1/.%2E/echo", "/t/web-1/a/..\\..\\echo", "/t/web-1/%00"]) {
      const r = await curl(["--cacert", gw.caPath, "--path-as-is", "-b", cookie, `https://127.0.0.1:${gw.ports.http}${path}`]);
      expect(r.status, path).toBe(400);
    }
    const badTarget = await curl(["--cacert", gw.caPath, "-b", cookie, `https://127.0.0.1:${gw.ports.http}/t/WEB%2F1/echo`]);
    expect(badTarget.status).toBe(400);
    expect(up.seen.length).toBe(before);
  });

  it("refuses websocket upgrades without a sign-in, without a grant, and upgrades to anything else", async () => {
    const before = up.seen.length;
    const status = (url: string, headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { ca, headers });
        ws.once("unexpected-response", (_q, res) => resolve(res.statusCode ?? 0));
        ws.once("open", () => resolve(101));
        ws.once("error", () => resolve(-1));
      });
    expect(await status(`wss://127.0.0.1:${gw.ports.http}/t/web-1/socket`, {})).toBe(401);
    expect(await status(`wss://127.0.0.1:${gw.ports.http}/t/web-2/socket`, { cookie })).toBe(403);
    const h2c = await raw([`${head("GET /t/web-1/echo HTTP/1.1", ["Connection: Upgrade", "Upgrade: h2c"])}\r\n`]);
    expect(statusOf(h2c.text)).toBe(400);
    expect(up.seen.length).toBe(before);
  });

  it("drops a slowloris client that never finishes its headers", async () => {
    const before = up.seen.length;
    // One header line every 500 ms, forever: the 2 s headersTimeout ends it.
    const lines = [head("GET /t/web-1/echo HTTP/1.1"), ...Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: a\r\n`)];
    const r = await raw(lines, 500);
    expect(r.text === "" || statusOf(r.text) === 408).toBe(true);
    expect(up.seen.length).toBe(before);
    const after = await raw([`${head("GET /t/web-1/echo HTTP/1.1", ["Connection: close"])}\r\n`]);
    expect(statusOf(after.text)).toBe(200);
  });
});
