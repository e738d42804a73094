// Web targets through the gateway with real clients: curl and the ws client against a
// small upstream that demands basic auth and echoes what it receives. Signing in, the
// grant check, credential injection, path-prefix rewriting, host-name routing with the
// wildcard certificate, upstream TLS verification, websockets, and the cut at grant end.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { callApi } from "../gateway/cli/client.js";
import type { AccessRequest } from "../policies/index.js";
import { createCertificateAuthority, issueServerCertificate } from "../vault/index.js";
import { Person, startGateway, tempDir, type GatewayProcess } from "./support/gateway.js";
import { curl, startHttpUpstream, type HttpUpstream } from "./support/http-upstream.js";

const UPSTREAM_PASSWORD = "upstream-secret-0001";
const DOMAIN = "gw.test";
const POLICY = `
policies:
  - name: web
    subjects: { roles: [requester] }
    targets: [web-1, web-2, web-tls, web-tls-ca, web-hdr]
    logins: [svc]
    maxDuration: 2h
    approvals: { count: 0 }
`;

describe("HTTP targets through the gateway", () => {
  const dir = tempDir("jg-http");
  const admin = new Person("admin", "admin-password-0001");
  const alice = new Person("alice", "alice-password-0001");
  const jar = join(dir, "alice.jar");
  let gw: GatewayProcess;
  let up: HttpUpstream;
  let upTls: HttpUpstream;
  let base: string;
  let upstreamCa: string;

  const tls = () => ["--cacert", gw.caPath];
  const as = () => [...tls(), "-b", jar, "-H", "accept: application/json"];
  const grant = async (target: string) => (await alice.ok<AccessRequest>(["request", target, "--login", "svc", "--for", "30m", "--reason", "web admin"])).grantId as string;
  const cookie = () => {
    const line = readFileSync(jar, "utf8").split("\n").find((l) => l.includes("__Host-jitgate"));
    return `__Host-jitgate=${line?.split("\t").pop()?.trim() ?? ""}`;
  };
  const revoke = (grantId: string) => {
    const p = JSON.parse(readFileSync(join(alice.home, "profile.json"), "utf8")) as { server: string; token: string; ca: string };
    return callApi(p, "POST", `/api/v1/grants/${grantId}/revoke`, { reason: "done" });
  };

  beforeAll(async () => {
    up = await startHttpUpstream({ user: "svc", password: UPSTREAM_PASSWORD });
    const ca = createCertificateAuthority();
    upstreamCa = ca.certPem;
    const cert = issueServerCertificate(ca, ["127.0.0.1"]);
    upTls = await startHttpUpstream({ user: "svc", password: UPSTREAM_PASSWORD, tls: { key: cert.keyPem, cert: cert.certPem } });
    gw = await startGateway({ dataDir: join(dir, "data"), adminPassword: admin.password, extraConfig: [`http: { domain: ${DOMAIN} }`] });
    base = `https://127.0.0.1:${gw.ports.http}`;
    expect((await admin.login(gw)).code).toBe(0);
    for (const t of ["web-1", "web-2", "web-hdr"]) await admin.ok(["targets", "add", t, "--kind", "http", "--address", `127.0.0.1:${up.port}`]);
    for (const t of ["web-tls", "web-tls-ca"]) await admin.ok(["targets", "add", t, "--kind", "http", "--address", `127.0.0.1:${upTls.port}`]);
    for (const t of ["web-1", "web-2"]) await admin.ok(["accounts", "add", t, "svc", "--auth", "password", "--secret-stdin"], { input: UPSTREAM_PASSWORD });
    await admin.ok(["accounts", "add", "web-tls", "svc", "--auth", "password", "--secret-stdin", "--option", "scheme=https"], { input: UPSTREAM_PASSWORD });
    await admin.ok(["accounts", "add", "web-tls-ca", "svc", "--auth", "password", "--secret-stdin", "--option", "scheme=https", "--option", `ca=${upstreamCa}`], {
      input: UPSTREAM_PASSWORD,
    });
    await admin.ok(["accounts", "add", "web-hdr", "svc", "--auth", "password", "--secret-stdin", "--option", "inject=header", "--option", "header=X-Api-Key"], { input: "api-key-0001" });
    await admin.ok(["users", "add", "alice", "--role", "requester", "--password-stdin"], { input: `${alice.password}-initial\n` });
    await alice.run(["login", "--server", gw.url, "--user", "alice", "--ca", gw.caPath], { env: { JITGATE_PASSWORD: `${alice.password}-initial` } });
    expect((await alice.run(["passwd"], { env: { JITGATE_PASSWORD: `${alice.password}-initial`, JITGATE_NEW_PASSWORD: alice.password } })).code).toBe(0);
    expect((await alice.login(gw)).code).toBe(0);
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    await admin.ok(["policies", "apply", join(dir, "policy.yaml")]);
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.close();
    await upTls?.close();
    for (const p of [admin, alice]) p.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends people to sign in, and signs them in with a secure, HttpOnly, SameSite cookie", async () => {
    const before = up.seen.length;
    const page = await curl([...tls(), "-H", "accept: text/html", `${base}/t/web-1/echo`]);
    expect(page.status).toBe(303);
    expect(page.headers.location).toEqual([`/.jitgate/login?next=${encodeURIComponent("/t/web-1/echo")}`]);
    const api = await curl([...tls(), `${base}/t/web-1/echo`]);
    expect(api.status).toBe(401);
    expect(JSON.parse(api.body)).toMatchObject({ code: "AUTH_REQUIRED" });

    const form = await curl([...tls(), `${base}/.jitgate/login?next=/t/web-1/`]);
    expect(form.body).toContain('name="password"');
    const wrong = await curl([...tls(), "-H", "accept: text/html", "--data-urlencode", "user=alice", "--data-urlencode", "password=nope", `${base}/.jitgate/login`]);
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain("user name or password is wrong");

    const ok = await curl([...tls(), "-c", jar, "-H", "accept: text/html", "--data-urlencode", "user=alice", "--data-urlencode", `password=${alice.password}`,
      "--data-urlencode", "next=/t/web-1/echo", `${base}/.jitgate/login`]);
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toEqual(["/t/web-1/echo"]);
    const set = ok.headers["set-cookie"]?.[0] ?? "";
    expect(set).toMatch(/^__Host-jitgate=jgt_[^;]+; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    // An open redirect to another site is not followed.
    const evil = await curl([...tls(), "-H", "accept: text/html", "--data-urlencode", "user=alice", "--data-urlencode", `password=${alice.password}`,
      "--data-urlencode", "next=//evil.example/", `${base}/.jitgate/login`]);
    expect(evil.headers.location).toEqual(["/"]);
    expect(up.seen.length).toBe(before);
  });

  it("without a grant: a page saying what to request, JSON 403 for API clients, nothing upstream", async () => {
    const before = up.seen.length;
    const api = await curl([...as(), `${base}/t/web-2/echo`]);
    expect(api.status).toBe(403);
    expect(JSON.parse(api.body)).toEqual({ code: "NO_GRANT", message: expect.stringContaining('jitgate request web-2 --login svc --for 30m --reason "..."') });
    const page = await curl([...tls(), "-b", jar, "-H", "accept: text/html", `${base}/t/web-2/`]);
    expect(page.status).toBe(403);
    expect(page.headers["content-type"]).toEqual(["text/html; charset=utf-8"]);
    expect(page.body).toContain("jitgate request web-2 --login svc --for 30m --reason &#34;...&#34;");
    const unknown = await curl([...as(), `${base}/t/nosuch/`]);
    expect(unknown.status).toBe(404);
    expect(up.seen.length).toBe(before);
  });

  it("with a grant: pages and a POST reach the target with the injected credential, never the client's own", async () => {
    await grant("web-1");
    const get = await curl([...as(), "-u", "mallory:guess", "-H", "x-forwarded-for: 10.9.9.9",
      "-H", "cookie: app=1", `${base}/t/web-1/echo?q=1`]);
    expect(get.status).toBe(200);
    const seen = JSON.parse(get.body) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe("/echo?q=1");
    expect(seen.headers.authorization).toBe(`Basic ${Buffer.from(`svc:${UPSTREAM_PASSWORD}`).toString("base64")}`);
    expect(seen.headers.cookie).not.toContain("__Host-jitgate");
    expect(seen.headers.cookie).toContain("app=1");
    expect(seen.headers["x-jitgate-token"]).toBeUndefined();
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen.headers["x-forwarded-prefix"]).toBe("/t/web-1");

    // Scripts may carry the gateway token in x-jitgate-token instead of the cookie; it stays at the gateway.
    const token = (JSON.parse(readFileSync(join(alice.home, "profile.json"), "utf8")) as { token: string }).token;
    const scripted = await curl([...tls(), "-H", `x-jitgate-token: ${token}`, `${base}/t/web-1/echo`]);
    expect(scripted.status).toBe(200);
    expect(JSON.stringify(JSON.parse(scripted.body))).not.toContain(token);

    const post = await curl([...as(), "--data-urlencode", "name=widget", "--data-urlencode", "count=3", `${base}/t/web-1/echo`]);
    expect(post.status).toBe(200);
    expect(JSON.parse(post.body)).toMatchObject({ method: "POST", body: "name=widget&count=3" });
    const big = await curl([...as(), "-o", "/dev/null", "-w", "%{size_download}", `${base}/t/web-1/big?size=1000000`]);
    expect(big.body.trim()).toBe("1000000");
    // No request ever carried mallory's attempt or the gateway's cookie upstream.
    expect(up.seen.some((s) => s.headers.authorization?.includes(Buffer.from("mallory:guess").toString("base64")))).toBe(false);
    expect(up.seen.some((s) => s.headers.cookie?.includes("__Host-jitgate"))).toBe(false);
  });

  it("injects a custom header instead when the account says so", async () => {
    await grant("web-hdr");
    const r = await curl([...as(), "-H", "X-Api-Key: client-made-up", `${base}/t/web-hdr/echo`]);
    // The upstream demands basic auth, which this account does not inject: its 401 passes through.
    expect(r.status).toBe(401);
    const last = up.seen[up.seen.length - 1];
    expect(last?.headers["x-api-key"]).toBe("api-key-0001");
    expect(last?.headers.authorization).toBeUndefined();
  });

  it("under a path prefix, rewrites redirects, cookie paths and absolute links so they keep working", async () => {
    const redirect = await curl([...as(), `${base}/t/web-1/redirect`]);
    expect(redirect.headers.location).toEqual(["/t/web-1/echo?from=redirect"]);
    const followed = await curl([...as(), "-L", `${base}/t/web-1/redirect-absolute`]);
    expect(followed.status).toBe(200);
    expect(JSON.parse(followed.body)).toMatchObject({ url: "/echo?from=absolute" });

    const page = await curl([...as(), "-H", "accept-encoding: gzip", "--compressed", `${base}/t/web-1/page`]);
    expect(page.body).toContain('href="/t/web-1/static/app.css"');
    expect(page.body).toContain('href="/t/web-1/other?x=1"');
    expect(page.body).toContain("href='/t/web-1/absolute'");
    expect(page.body).toContain('href="relative"');
    expect(page.body).toContain('href="https://example.org/"');
    expect(page.body).toContain('href="//cdn.example.org/x.js"');
    expect(page.body).toContain('src="/t/web-1/img.png"');
    expect(page.body).toContain('action="/t/web-1/submit"');
    const link = await curl([...as(), `${base}/t/web-1/other?x=1`]);
    expect(link.body).toBe("ok /other");

    const cookies = await curl([...as(), `${base}/t/web-1/cookie`]);
    expect(cookies.headers["set-cookie"]).toEqual(["sid=abc123; Path=/t/web-1/; HttpOnly", "pref=dark; Path=/t/web-1/settings"]);
  });

  it("by host name: TARGET.<domain> with the wildcard certificate, and its own sign-in", async () => {
    const host = `web-1.${DOMAIN}`;
    const resolve = ["--resolve", `${host}:${gw.ports.http}:127.0.0.1`];
    const hostJar = join(dir, "host.jar");
    const signIn = await curl([...tls(), ...resolve, "-c", hostJar, "--data-urlencode", "user=alice", "--data-urlencode", `password=${alice.password}`,
      `https://${host}:${gw.ports.http}/.jitgate/login`]);
    expect(signIn.status).toBe(200);
    const r = await curl([...tls(), ...resolve, "-b", hostJar, `https://${host}:${gw.ports.http}/echo?via=host`]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ url: "/echo?via=host", headers: { "x-forwarded-host": `${host}:${gw.ports.http}` } });
    const abs = await curl([...tls(), ...resolve, "-b", hostJar, `https://${host}:${gw.ports.http}/redirect-absolute`]);
    expect(abs.headers.location).toEqual([`https://${host}:${gw.ports.http}/echo?from=absolute`]);
    const bad = await curl([...tls(), "--resolve", `web_x!.${DOMAIN}:${gw.ports.http}:127.0.0.1`, "-H", `host: web_x!.${DOMAIN}`, `${base}/`]);
    expect(bad.status).toBe(400);
  });

  it("verifies the target's TLS certificate; the account's ca option makes it trusted", async () => {
    await grant("web-tls");
    const refused = await curl([...as(), `${base}/t/web-tls/echo`]);
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.body).message).toContain("could not be verified");
    expect(upTls.seen.length).toBe(0);
    await grant("web-tls-ca");
    const trusted = await curl([...as(), `${base}/t/web-tls-ca/echo`]);
    expect(trusted.status).toBe(200);
    expect(JSON.parse(trusted.body)).toMatchObject({ headers: { authorization: `Basic ${Buffer.from(`svc:${UPSTREAM_PASSWORD}`).toString("base64")}` } });
  });

  it("relays a websocket both ways with the injected credential and the chosen subprotocol", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports.http}/t/web-1/socket`, ["echo.v1"], { ca: readFileSync(gw.caPath), headers: { cookie: cookie() } });
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    expect(ws.protocol).toBe("echo.v1");
    const reply = new Promise<string>((r) => ws.once("message", (d) => r(String(d))));
    ws.send("hello");
    expect(await reply).toBe("echo: hello");
    const seen = up.seen.filter((s) => s.websocket).pop();
    expect(seen?.headers.authorization).toBe(`Basic ${Buffer.from(`svc:${UPSTREAM_PASSWORD}`).toString("base64")}`);
    expect(seen?.headers.cookie ?? "").not.toContain("__Host-jitgate");
    ws.close();
  });

  it("refuses a websocket upgrade without a grant before anything reaches the target", async () => {
    const before = up.seen.length;
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports.http}/t/web-2/socket`, { ca: readFileSync(gw.caPath), headers: { cookie: cookie() } });
    const status = await new Promise<number>((r) => {
      ws.once("unexpected-response", (_req, res) => r(res.statusCode ?? 0));
      ws.once("open", () => r(101));
    });
    expect(status).toBe(403);
    expect(up.seen.length).toBe(before);
  });

  it("at revocation closes the websocket (4001, the reason) and the keep-alive connection within 100 ms; the next request gets the grant-ended page", async () => {
    const grantId = await grant("web-2");
    const ca = readFileSync(gw.caPath);
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports.http}/t/web-2/socket`, { ca, headers: { cookie: cookie() } });
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    const wsClosed = new Promise<{ code: number; reason: string; at: number }>((r) => ws.once("close", (code, reason) => r({ code, reason: String(reason), at: performance.now() })));

    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
    const keepAliveClosed = await new Promise<Promise<number>>((resolve, reject) => {
      const req = httpsRequest(`${base}/t/web-2/echo`, { agent, headers: { cookie: cookie(), accept: "application/json" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(new Promise<number>((r) => req.socket?.once("close", () => r(performance.now())))));
      });
      req.on("error", reject);
      req.end();
    });
    expect(up.sockets.size).toBeGreaterThan(0);

    await revoke(grantId);
    const answered = performance.now();
    const closed = await wsClosed;
    const socketClosed = await keepAliveClosed;
    expect(closed.code).toBe(4001);
    expect(closed.reason).toBe(`jitgate: grant ${grantId} revoked — session closed`);
    expect(closed.at - answered).toBeLessThan(100);
    expect(socketClosed - answered).toBeLessThan(100);
    agent.destroy();

    const next = await curl([...tls(), "-b", jar, "-H", "accept: text/html", `${base}/t/web-2/echo`]);
    expect(next.status).toBe(403);
    expect(next.body).toContain("Your grant has ended");
    expect(next.body).toContain(`your grant ${grantId} on web-2 ended (revoked)`);
    const api = await curl([...as(), `${base}/t/web-2/echo`]);
    expect(JSON.parse(api.body)).toMatchObject({ code: "GRANT_ENDED" });
  });
});
