// A gateway stopped and started again still ends grants on time, ends at once those whose
// end passed while it was down, and keeps an audit chain that verifies.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { AccessRequest, AuditRecord, Grant } from "../policies/index.js";
import { Person, freePort, startGateway, tempDir } from "./support/gateway.js";
import { createTestDatabase, type TestDatabase } from "./support/postgres.js";

const POLICY = `
policies:
  - name: self-service
    subjects: { roles: [admin] }
    targets: ["*"]
    logins: ["*"]
    maxDuration: 1h
    requireReason: false
    approvals: { count: 0 }
`;

describe.each(["pglite", "postgres"] as const)("restart on %s", (store) => {
  const dir = tempDir("jg-restart");
  const admin = new Person("admin", "admin-password-0001");
  let db: TestDatabase | null = null;

  afterAll(async () => {
    await db?.drop();
    admin.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("grants end on time across a restart and the audit chain still verifies", async () => {
    if (store === "postgres") db = await createTestDatabase("jg_restart");
    const dataDir = join(dir, "data");
    const opts = { dataDir, databaseUrl: db?.url ?? null, adminPassword: admin.password, sweepInterval: "1h", apiPort: await freePort() };
    let gw = await startGateway(opts);
    expect(gw.stdout()).toContain("created user admin with the password from JITGATE_ADMIN_PASSWORD");
    expect((await admin.login(gw)).code).toBe(0);
    writeFileSync(join(dir, "p.yaml"), POLICY);
    await admin.ok(["policies", "apply", join(dir, "p.yaml")]);
    await admin.ok(["targets", "add", "web-1", "--kind", "ssh", "--address", "127.0.0.1:22"]);
    await admin.ok(["targets", "add", "web-2", "--kind", "ssh", "--address", "127.0.0.1:22"]);
    await admin.ok(["accounts", "add", "web-1", "root", "--auth", "password"]);
    await admin.ok(["accounts", "add", "web-2", "root", "--auth", "password"]);
    // One grant ends while the gateway is down, one after it is back.
    const short = await admin.ok<AccessRequest>(["request", "web-1", "--login", "root", "--for", "4s"]);
    const long = await admin.ok<AccessRequest>(["request", "web-2", "--login", "root", "--for", "16s"]);
    const longGrant = await admin.ok<Grant>(["grant", long.grantId ?? ""]);
    const shortGrant = await admin.ok<Grant>(["grant", short.grantId ?? ""]);
    await gw.stop();
    // The first grant must still be open when the gateway is gone, or this proves nothing.
    expect(Date.parse(shortGrant.notAfter)).toBeGreaterThan(Date.now());
    const downUntil = Date.parse(shortGrant.notAfter) + 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, downUntil - Date.now())));

    const restartedAt = Date.now();
    gw = await startGateway(opts);
    expect(gw.stdout()).not.toContain("created user admin");
    // The token from before the restart still works: tokens live in the store.
    const afterRestart = await admin.ok<Grant>(["grant", short.grantId ?? ""]);
    expect(afterRestart).toMatchObject({ state: "ended", endReason: "expired" });
    // Ended by the reloaded clock as it started, not by the hourly sweep.
    expect(Date.parse(afterRestart.endedAt ?? "")).toBeLessThan(Date.now());
    expect(Date.parse(afterRestart.endedAt ?? "")).toBeGreaterThanOrEqual(restartedAt - 50);
    expect((await admin.ok<Grant>(["grant", long.grantId ?? ""])).state).toBe("active");

    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(longGrant.notAfter) - Date.now() + 500)));
    const ended = await admin.ok<Grant>(["grant", long.grantId ?? ""]);
    expect(ended).toMatchObject({ state: "ended", endReason: "expired" });
    const lateness = Date.parse(ended.endedAt ?? "") - Date.parse(longGrant.notAfter);
    expect(lateness).toBeGreaterThanOrEqual(0);
    expect(lateness).toBeLessThan(100);
    const audit = await admin.ok<AuditRecord[]>(["audit", "--type", "grant.ended"]);
    expect(audit.map((e) => (e.data as { grantId: string }).grantId).sort()).toEqual([short.grantId, long.grantId].sort());
    const verify = await admin.ok<{ ok: boolean; problems: unknown[] }>(["audit", "verify"]);
    expect(verify).toMatchObject({ ok: true, problems: [] });
    await gw.stop();
  });
});
