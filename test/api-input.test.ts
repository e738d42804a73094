// The control API's answers to bad input, over real HTTPS: each gets a 4xx with a stable
// code, and nothing is stored.
import { readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type GatewayProcess } from "./support/gateway.js";

let gw: GatewayProcess;
let ca: string;
let token: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { code?: string; message?: string } & Record<string, unknown>;
}

function call(method: string, path: string, opts: { body?: string | Buffer; token?: string | null; type?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers["content-type"] = opts.type ?? "application/json";
    const t = opts.token === undefined ? token : opts.token;
    if (t) headers.authorization = `Bearer ${t}`;
    const req = request(new URL(path, gw.url), { method, headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : {} });
      });
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

const json = (v: unknown) => JSON.stringify(v);

beforeAll(async () => {
  gw = await startGateway({ adminPassword: "admin-password-0001" });
  ca = readFileSync(gw.caPath, "utf8");
  const login = await call("POST", "/api/v1/auth/login", { token: null, body: json({ user: "admin", password: "admin-password-0001" }) });
  token = login.body.token as string;
  await call("POST", "/api/v1/targets", { body: json({ name: "web-1", kind: "ssh", address: "127.0.0.1:22" }) });
});

afterAll(async () => {
  await gw?.stop();
  if (gw) rmSync(gw.dataDir, { recursive: true, force: true });
});

describe("control API input handling", () => {
  it("serves health, readiness and its OpenAPI description without a token", async () => {
    expect((await call("GET", "/healthz", { token: null })).body).toEqual({ status: "ok" });
    expect((await call("GET", "/readyz", { token: null })).body).toEqual({ status: "ready" });
    const doc = await call("GET", "/api/openapi.json", { token: null });
    expect(doc.body.openapi).toBe("3.1.0");
    const paths = doc.body.paths as Record<string, Record<string, { requestBody?: unknown }>>;
    expect(Object.keys(paths)).toContain("/api/v1/requests/{id}/approve");
    expect(paths["/api/v1/requests"]?.post?.requestBody).toBeDefined();
  });

  it.each([
    ["malformed JSON", "POST", "/api/v1/targets", { body: "{not json" }, 400, "MALFORMED_JSON"],
    ["unknown field", "POST", "/api/v1/targets", { body: json({ name: "web-2", kind: "ssh", address: "a:22", colour: "red" }) }, 400, "INVALID_BODY"],
    ["wrong type", "POST", "/api/v1/targets", { body: json({ name: 5, kind: "ssh", address: "a:22" }) }, 400, "INVALID_BODY"],
    ["wrong content type", "POST", "/api/v1/targets", { body: "name=web-2", type: "application/x-www-form-urlencoded" }, 415, "UNSUPPORTED_MEDIA_TYPE"],
    ["oversized body", "POST", "/api/v1/targets", { body: json({ name: "x".repeat(100_000), kind: "ssh", address: "a:22" }) }, 413, "BODY_TOO_LARGE"],
    ["odd Unicode name", "POST", "/api/v1/targets", { body: json({ name: "web\u202e1", kind: "ssh", address: "a:22" }) }, 400, "INVALID_NAME"],
    ["SQL-looking name", "POST", "/api/v1/targets", { body: json({ name: "a'); DELETE FROM targets; --", kind: "ssh", address: "a:22" }) }, 400, "INVALID_NAME"],
    ["negative duration", "POST", "/api/v1/requests", { body: json({ target: "web-1", login: "root", duration: "-10m" }) }, 400, "INVALID_DURATION"],
    ["zero duration", "POST", "/api/v1/requests", { body: json({ target: "web-1", login: "root", duration: "0s" }) }, 400, "INVALID_DURATION"],
    ["unknown target", "POST", "/api/v1/requests", { body: json({ target: "nope", login: "root", duration: "10m" }) }, 404, "TARGET_NOT_FOUND"],
    ["bad id", "POST", "/api/v1/requests/1%27%20OR%201=1/approve", { body: "{}" }, 400, "INVALID_ID"],
    ["unknown request", "POST", "/api/v1/requests/00000000-0000-4000-8000-000000000000/approve", { body: "{}" }, 404, "REQUEST_NOT_FOUND"],
    ["unknown route", "GET", "/api/v1/nope", {}, 404, "NOT_FOUND"],
    ["wrong method", "DELETE", "/api/v1/targets", {}, 405, "METHOD_NOT_ALLOWED"],
    ["no token", "GET", "/api/v1/targets", { token: null }, 401, "AUTH_REQUIRED"],
    ["forged token", "GET", "/api/v1/targets", { token: "jgt_forged" }, 401, "TOKEN_INVALID"],
    ["malformed path", "GET", "/api/v1/users/%E0%A4%A", {}, 400, "MALFORMED_PATH"],
    ["unknown audit type", "GET", "/api/v1/audit?type=grant.exploded", {}, 400, "INVALID_QUERY"],
  ] as const)("%s → %i %s", async (_name, method, path, opts, status, code) => {
    const before = await call("GET", "/api/v1/audit/verify");
    const a = await call(method, path, opts as { body?: string; token?: string | null; type?: string });
    expect(a.status).toBe(status);
    expect(a.body.code).toBe(code);
    expect(typeof a.body.message).toBe("string");
    expect(a.headers["content-type"]).toContain("application/json");
    const after = await call("GET", "/api/v1/audit/verify");
    expect(after.body.count).toBe(before.body.count);
    const targets = await call("GET", "/api/v1/targets");
    expect((targets.body as unknown as unknown[]).length).toBe(1);
  });

  it("a logged-out token replayed is refused and says why", async () => {
    const login = await call("POST", "/api/v1/auth/login", { token: null, body: json({ user: "admin", password: "admin-password-0001" }) });
    const t = login.body.token as string;
    expect((await call("GET", "/api/v1/me", { token: t })).status).toBe(200);
    expect((await call("POST", "/api/v1/auth/logout", { token: t })).status).toBe(204);
    const replay = await call("GET", "/api/v1/me", { token: t });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe("TOKEN_REVOKED");
  });

  it("throttles password guessing with a growing Retry-After, and never says which part was wrong", async () => {
    const guess = () => call("POST", "/api/v1/auth/login", { token: null, body: json({ user: "admin", password: "wrong-password-x" }) });
    const first = await guess();
    expect(first.status).toBe(401);
    expect(first.body.message).toBe("user name or password is wrong");
    const unknown = await call("POST", "/api/v1/auth/login", { token: null, body: json({ user: "nobody", password: "wrong-password-x" }) });
    expect(unknown.body).toEqual(first.body);
    await guess();
    await guess();
    const throttled = await guess();
    expect(throttled.status).toBe(429);
    expect(throttled.body.code).toBe("LOGIN_THROTTLED");
    expect(Number(throttled.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    // Even the right password waits out the delay.
    const right = await call("POST", "/api/v1/auth/login", { token: null, body: json({ user: "admin", password: "admin-password-0001" }) });
    expect(right.status).toBe(429);
  });
});
