// The control plane end to end, driven only through the `jitgate` CLI against a running
// `jitgate serve`, on the embedded PGlite and on the real PostgreSQL.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessRequest, AuditRecord, Grant } from "../policies/index.js";
import { Person, startGateway, tempDir, type GatewayProcess } from "./support/gateway.js";
import { createTestDatabase, type TestDatabase } from "./support/postgres.js";

const POLICY = `
policies:
  - name: web-ops
    subjects: { roles: [requester] }
    targets: [web-*]
    logins: [root, deploy]
    maxDuration: 2h
    approvals: { count: 2, from: { groups: [sre] } }
    requireReason: true
  - name: oncall-fast
    subjects: { groups: [oncall] }
    labels: { env: staging }
    logins: ["*"]
    maxDuration: 1h
    approvals: { count: 1 }
    autoApprove: [{ subjects: { groups: [oncall] } }]
`;

describe.each(["pglite", "postgres"] as const)("jitgate CLI against serve on %s", (store) => {
  let db: TestDatabase | null = null;
  let gw: GatewayProcess;
  const dir = tempDir("jg-e2e");
  const admin = new Person("admin", "");
  const bob = new Person("bob", "bob-password-0001");
  const carol = new Person("carol", "carol-password-01");
  const dave = new Person("dave", "dave-password-001");
  const policyFile = join(dir, "policies.yaml");

  beforeAll(async () => {
    if (store === "postgres") db = await createTestDatabase("jg_e2e");
    gw = await startGateway({ databaseUrl: db?.url ?? null, dataDir: join(dir, "data") });
    writeFileSync(policyFile, POLICY);
  });

  afterAll(async () => {
    await gw?.stop();
    await db?.drop();
    for (const p of [admin, bob, carol, dave]) p.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("first start prints a one-time admin password that must be changed", async () => {
    const m = /one-time password: (\S+)/.exec(gw.stdout());
    expect(m, gw.stdout()).not.toBeNull();
    admin.password = m?.[1] ?? "";
    expect((await admin.login(gw)).code).toBe(0);
    expect(await admin.fails(["targets"])).toMatchObject({ exit: 1, code: "PASSWORD_CHANGE_REQUIRED" });
    const weak = await admin.run(["passwd", "--json"], { env: { JITGATE_PASSWORD: admin.password, JITGATE_NEW_PASSWORD: "short" } });
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain("WEAK_PASSWORD");
    const changed = await admin.run(["passwd"], { env: { JITGATE_PASSWORD: admin.password, JITGATE_NEW_PASSWORD: "admin-password-0001" } });
    expect(changed.code, changed.stderr).toBe(0);
    admin.password = "admin-password-0001";
    // Changing the password logged every session out, this one included.
    expect(await admin.fails(["targets"])).toMatchObject({ code: "TOKEN_REVOKED" });
    expect((await admin.login(gw)).code).toBe(0);
    expect(await admin.ok<unknown[]>(["targets"])).toEqual([]);
  });

  it("admin sets up targets, accounts, users and policies", async () => {
    await admin.ok(["targets", "add", "web-1", "--kind", "ssh", "--address", "10.0.0.5:22", "--label", "env=prod"]);
    await admin.ok(["targets", "add", "stage-db", "--kind", "postgres", "--address", "db.stage.internal:5432", "--label", "env=staging"]);
    await admin.ok(["accounts", "add", "web-1", "root", "--auth", "password"]);
    await admin.ok(["accounts", "add", "web-1", "deploy", "--auth", "key"]);
    await admin.ok(["accounts", "add", "stage-db", "app", "--auth", "ephemeral"]);
    for (const [p, args] of [
      [bob, ["--role", "requester", "--group", "oncall"]],
      [carol, ["--role", "approver", "--role", "requester", "--group", "sre"]],
      [dave, ["--role", "approver", "--group", "sre"]],
    ] as const) {
      await admin.ok(["users", "add", p.name, ...args, "--password-stdin"], { input: `${p.password}-initial\n` });
      await p.run(["login", "--server", gw.url, "--user", p.name, "--ca", gw.caPath], { env: { JITGATE_PASSWORD: `${p.password}-initial` } });
      const r = await p.run(["passwd"], { env: { JITGATE_PASSWORD: `${p.password}-initial`, JITGATE_NEW_PASSWORD: p.password } });
      expect(r.code, r.stderr).toBe(0);
      expect((await p.login(gw)).code).toBe(0);
    }
    const applied = await admin.ok<{ applied: { name: string; version: number; changed: boolean }[] }>(["policies", "apply", policyFile]);
    expect(applied.applied.map((a) => [a.name, a.version, a.changed])).toEqual([["web-ops", 1, true], ["oncall-fast", 1, true]]);
    const again = await admin.ok<{ applied: { changed: boolean }[] }>(["policies", "apply", policyFile]);
    expect(again.applied.every((a) => !a.changed)).toBe(true);
    expect(await admin.ok<{ name: string }[]>(["users"])).toHaveLength(4);
    const history = await admin.ok<{ version: number; appliedBy: string; source: string }[]>(["policies", "history", "web-ops"]);
    expect(history).toMatchObject([{ version: 1, appliedBy: "admin", source: policyFile }]);
    expect(await admin.fails(["policies", "history", "nope"])).toMatchObject({ code: "POLICY_NOT_FOUND" });
  });

  it("refuses bad input with a clear code and stores nothing", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "policies:\n  - name: x\n    subjects: { roles: [requester] }\n    targets: [a]\n    logins: [root]\n    maxDuration: soon\n    approvals: { count: 1 }\n    colour: blue\n");
    const e = await admin.fails(["policies", "apply", bad]);
    expect(e.code).toBe("INVALID_FILE");
    expect(e.message).toContain(`${bad}:6:`);
    expect(e.message).toContain("maxDuration");
    expect(e.message).toMatch(/:8:\d+: .*colour/);
    expect(await admin.fails(["targets", "add", "Ｗeb-2", "--kind", "ssh", "--address", "a:22"])).toMatchObject({ exit: 1, code: "INVALID_NAME" });
    expect(await admin.fails(["targets", "add", "x'; drop table targets;--", "--kind", "ssh", "--address", "a:22"])).toMatchObject({ code: "INVALID_NAME" });
    expect(await admin.fails(["targets", "add", "web-2", "--kind", "telnet", "--address", "a:23"])).toMatchObject({ code: "INVALID_KIND" });
    expect(await admin.fails(["targets", "add", "web-2", "--kind", "ssh", "--address", "a:70000"])).toMatchObject({ code: "INVALID_ADDRESS" });
    expect((await admin.ok<unknown[]>(["targets"])).length).toBe(2);
    expect(await bob.fails(["request", "web-1", "--login", "root", "--for=-5m", "--reason", "x"])).toMatchObject({ code: "INVALID_DURATION" });
    expect(await bob.fails(["request", "web-1", "--login", "root", "--for", "0m", "--reason", "x"])).toMatchObject({ code: "INVALID_DURATION" });
    expect(await bob.fails(["request", "web-1", "--login", "root", "--for", "3h", "--reason", "x"])).toMatchObject({ code: "DURATION_EXCEEDS_POLICY" });
    expect(await bob.fails(["request", "web-1", "--login", "root", "--for", "30m"])).toMatchObject({ code: "REASON_REQUIRED" });
    expect(await bob.fails(["request", "nope", "--login", "root", "--for", "30m", "--reason", "x"])).toMatchObject({ code: "TARGET_NOT_FOUND" });
    expect(await bob.fails(["request", "web-1", "--login", "admin", "--for", "30m", "--reason", "x"])).toMatchObject({ code: "ACCOUNT_NOT_FOUND" });
    expect(await bob.ok<unknown[]>(["requests"])).toEqual([]);
    expect(await bob.fails(["users"])).toMatchObject({ code: "ROLE_REQUIRED" });
    // Usage errors exit 2 and say what is wrong.
    const usage = await bob.run(["request", "web-1", "--for", "30m"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--login");
    expect((await bob.run(["frobnicate"])).code).toBe(2);
    expect((await bob.run(["grants", "--bogus"])).code).toBe(2);
  });

  it("request → N distinct approvals → grant; self-approval and double votes refused", async () => {
    const r = await carol.ok<AccessRequest>(["request", "web-1", "--login", "root", "--for", "30m", "--reason", "disk full on /var"]);
    expect(r.state).toBe("pending");
    expect(await carol.fails(["approve", r.id])).toMatchObject({ code: "SELF_APPROVAL" });
    expect(await bob.fails(["approve", r.id])).toMatchObject({ code: "NOT_AN_APPROVER" });
    const first = await dave.ok<AccessRequest>(["approve", r.id]);
    expect(first.state).toBe("pending");
    expect(await dave.fails(["approve", r.id])).toMatchObject({ code: "ALREADY_VOTED" });
    // The second approval needs another member of sre who is not the requester: there is
    // none, so an admin adds one.
    const erin = new Person("erin", "erin-password-001");
    await admin.ok(["users", "add", "erin", "--role", "approver", "--group", "sre", "--password-stdin"], { input: "erin-password-001" });
    await erin.login(gw);
    await erin.run(["passwd"], { env: { JITGATE_PASSWORD: "erin-password-001", JITGATE_NEW_PASSWORD: "erin-password-002" } });
    erin.password = "erin-password-002";
    await erin.login(gw);
    const approved = await erin.ok<AccessRequest>(["approve", r.id, "--reason", "ok, ticket 42"]);
    expect(approved.state).toBe("approved");
    expect(approved.approvals.map((a) => a.approver).sort()).toEqual(["dave", "erin"]);
    const grants = await carol.ok<Grant[]>(["grants"]);
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ id: approved.grantId, user: "carol", target: "web-1", login: "root", state: "active" });
    // The clock starts at approval, not at request time.
    expect(Date.parse(grants[0]?.notBefore ?? "")).toBeGreaterThanOrEqual(Date.parse(r.createdAt));
    expect(Date.parse(grants[0]?.notAfter ?? "") - Date.parse(grants[0]?.notBefore ?? "")).toBe(30 * 60_000);
    expect(await erin.fails(["approve", r.id])).toMatchObject({ code: "REQUEST_DECIDED" });
    erin.cleanup();
  });

  it("auto-approve, deny, revoke and extend", async () => {
    const auto = await bob.ok<AccessRequest>(["request", "stage-db", "--login", "app", "--for", "20m", "--reason", "debug"]);
    expect(auto).toMatchObject({ state: "approved", decidedBy: "policy:oncall-fast" });
    const pending = await bob.ok<AccessRequest>(["request", "web-1", "--login", "deploy", "--for", "15m", "--reason", "release"]);
    expect(await dave.fails(["deny", pending.id])).toMatchObject({ exit: 2 });
    const denied = await dave.ok<AccessRequest>(["deny", pending.id, "--reason", "not during the freeze"]);
    expect(denied).toMatchObject({ state: "denied", decisionReason: "not during the freeze" });
    const ext = await bob.ok<AccessRequest>(["extend", auto.grantId ?? "", "--for", "10m", "--reason", "need more time"]);
    expect(ext).toMatchObject({ state: "approved", extendsGrantId: auto.grantId });
    const extended = await bob.ok<Grant>(["grant", auto.grantId ?? ""]);
    expect(Date.parse(extended.notAfter) - Date.parse(extended.notBefore)).toBe(30 * 60_000);
    const revoked = await dave.ok<Grant>(["revoke", auto.grantId ?? "", "--reason", "incident over"]);
    expect(revoked).toMatchObject({ state: "ended", endReason: "revoked", endedBy: "dave" });
    expect(await dave.fails(["revoke", auto.grantId ?? ""])).toMatchObject({ code: "GRANT_ENDED" });
    expect((await bob.ok<Grant[]>(["grants"])).map((g) => g.id)).not.toContain(auto.grantId);
    expect((await bob.ok<Grant[]>(["grants", "--all"])).map((g) => g.id)).toContain(auto.grantId);
  });

  it("audit filters and a chain that verifies", async () => {
    const grantEvents = await admin.ok<AuditRecord[]>(["audit", "--type", "grant."]);
    expect(grantEvents.map((e) => e.type)).toEqual(["grant.created", "grant.created", "grant.extended", "grant.revoked", "grant.ended"]);
    const byDave = await admin.ok<AuditRecord[]>(["audit", "--user", "dave", "--type", "request.denied"]);
    expect(byDave).toHaveLength(1);
    const failed = await admin.ok<AuditRecord[]>(["audit", "--type", "auth.login_failed", "--since", "1h"]);
    expect(failed.length).toBe(0);
    const verify = await admin.ok<{ ok: boolean; count: number }>(["audit", "verify"]);
    expect(verify.ok).toBe(true);
    expect(verify.count).toBeGreaterThan(30);
    expect(await bob.fails(["audit"])).toMatchObject({ code: "ROLE_REQUIRED" });
    const human = await admin.run(["audit", "verify"]);
    expect(human.stdout).toContain("audit chain intact");
  });

  it("a contractor's expiry ends their grant and their access", async () => {
    // Two CLI runs (request, grant) must finish before the account expires; each is a node start, slow under a loaded suite.
    const soon = new Date(Date.now() + 12_000).toISOString();
    await admin.ok(["users", "update", "bob", "--expires", soon]);
    const g = await bob.ok<AccessRequest>(["request", "stage-db", "--login", "app", "--for", "30m", "--reason", "vendor task"]);
    const grant = await bob.ok<Grant>(["grant", g.grantId ?? ""]);
    expect(Date.parse(grant.notAfter)).toBe(Date.parse(soon));
    await new Promise((r) => setTimeout(r, Date.parse(soon) - Date.now() + 300));
    expect(await bob.fails(["grants"])).toMatchObject({ code: "USER_EXPIRED" });
    const ended = await admin.ok<Grant>(["grant", g.grantId ?? ""]);
    expect(ended).toMatchObject({ state: "ended", endReason: "expired" });
    expect(Date.parse(ended.endedAt ?? "") - Date.parse(soon)).toBeLessThan(1000);
    expect((await bob.login(gw)).code).toBe(1);
  });
});
