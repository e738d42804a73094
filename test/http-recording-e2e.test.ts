// Every request through the HTTP engine is in the recording, read back through the API:
// method, path, query, status, sizes, the websocket, and (when the gateway is told to
// capture bodies) the bodies with their password fields redacted.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { callApi } from "../gateway/cli/client.js";
import type { AccessRequest } from "../policies/index.js";
import type { HttpExchange } from "../recorder/index.js";
import { Person, startGateway, tempDir, type GatewayProcess } from "./support/gateway.js";
import { curl, startHttpUpstream, type HttpUpstream } from "./support/http-upstream.js";

const POLICY = `
policies:
  - name: web
    subjects: { roles: [requester] }
    targets: [web-1]
    logins: [svc]
    maxDuration: 2h
    approvals: { count: 0 }
`;

interface SessionRow { id: string; protocol: string; userName: string; targetName: string; login: string; grantId: string }
interface EventRow { kind: string; http?: HttpExchange }

describe("HTTP recordings", () => {
  const dir = tempDir("jg-http-rec");
  const admin = new Person("admin", "admin-password-0001");
  const alice = new Person("alice", "alice-password-0001");
  let gw: GatewayProcess;
  let up: HttpUpstream;
  let cookie: string;

  const adminApi = () => JSON.parse(readFileSync(join(admin.home, "profile.json"), "utf8")) as { server: string; token: string; ca: string };

  beforeAll(async () => {
    up = await startHttpUpstream({ user: "svc", password: "upstream-secret-0001" });
    gw = await startGateway({ dataDir: join(dir, "data"), adminPassword: admin.password, extraConfig: ["http: { captureBodies: 64 }"] });
    expect((await admin.login(gw)).code).toBe(0);
    await admin.ok(["targets", "add", "web-1", "--kind", "http", "--address", `127.0.0.1:${up.port}`]);
    await admin.ok(["accounts", "add", "web-1", "svc", "--auth", "password", "--secret-stdin"], { input: "upstream-secret-0001" });
    await admin.ok(["users", "add", "alice", "--role", "requester", "--password-stdin"], { input: "first-password-0001\n" });
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    await admin.ok(["policies", "apply", join(dir, "policy.yaml")]);
    await alice.run(["login", "--server", gw.url, "--user", "alice", "--ca", gw.caPath], { env: { JITGATE_PASSWORD: "first-password-0001" } });
    await alice.run(["passwd"], { env: { JITGATE_PASSWORD: "first-password-0001", JITGATE_NEW_PASSWORD: alice.password } });
    expect((await alice.login(gw)).code).toBe(0);
    const signIn = await curl(["--cacert", gw.caPath, "--data-urlencode", "user=alice", "--data-urlencode", `password=${alice.password}`, `https://127.0.0.1:${gw.ports.http}/.jitgate/login`]);
    cookie = (signIn.headers["set-cookie"]?.[0] ?? "").split(";")[0] ?? "";
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.close();
    for (const p of [admin, alice]) p.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("records each exchange of the session with its user and grant, bodies redacted", async () => {
    const grantId = (await alice.ok<AccessRequest>(["request", "web-1", "--login", "svc", "--for", "30m", "--reason", "recorded"])).grantId as string;
    const base = `https://127.0.0.1:${gw.ports.http}/t/web-1`;
    const as = ["--cacert", gw.caPath, "-b", cookie, "-H", "accept: application/json"];
    expect((await curl([...as, `${base}/echo?a=1&b=2`])).status).toBe(200);
    expect((await curl([...as, "--data-urlencode", "user=root", "--data-urlencode", "password=hunter2", `${base}/echo`])).status).toBe(200);
    expect((await curl([...as, `${base}/big?size=5000`])).status).toBe(200);
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports.http}/t/web-1/socket`, { ca: readFileSync(gw.caPath), headers: { cookie } });
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    ws.send("hi");
    await new Promise((r) => ws.once("message", r));
    ws.close();
    await new Promise((r) => ws.once("close", r));

    let exchanges: HttpExchange[] = [];
    let session: SessionRow | undefined;
    // The recorder writes in batches: wait for them to arrive.
    for (let i = 0; i < 100 && exchanges.length < 4; i++) {
      session = (await callApi<SessionRow[]>(adminApi(), "GET", "/api/v1/sessions?protocol=http&target=web-1"))[0];
      if (session) {
        const page = await callApi<{ events: EventRow[] }>(adminApi(), "GET", `/api/v1/sessions/${session.id}/events?kinds=http`);
        exchanges = page.events.flatMap((e) => (e.http ? [e.http] : []));
      }
      if (exchanges.length < 4) await new Promise((r) => setTimeout(r, 200));
    }
    expect(session).toMatchObject({ protocol: "http", userName: "alice", targetName: "web-1", login: "svc", grantId });
    expect(exchanges.map((e) => [e.method, e.path, e.query, e.status])).toEqual([
      ["GET", "/echo", "a=1&b=2", 200], ["POST", "/echo", "", 200], ["GET", "/big", "size=5000", 200], ["GET", "/socket", "", 101],
    ]);
    const [get, post, big, socket] = exchanges;
    expect(get?.requestBytes).toBe(0);
    expect(big?.responseBytes).toBe(5000);
    expect(post?.requestBytes).toBe("user=root&password=hunter2".length);
    expect(post?.requestBody).toBe("user=root&password=[redacted]");
    expect(post?.responseBody).toMatch(/…\[cut\]$/);
    expect(JSON.stringify(exchanges)).not.toContain("hunter2");
    expect(socket).toMatchObject({ websocket: true, requestBytes: 2, responseBytes: "echo: hi".length });
    for (const e of exchanges) expect(e.durationMs).toBeGreaterThanOrEqual(0);
  });
});
