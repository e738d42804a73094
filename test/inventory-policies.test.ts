// Targets, accounts and versioned policies, as the control plane stores them, on both
// stores: embedded PGlite and a real PostgreSQL.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parsePolicyFile, type ControlPlane } from "../policies/index.js";
import { openControlPlane, STORE_KINDS, type TestControlPlane } from "./support/control-plane.js";
import { FakeClock } from "./support/fake-clock.js";

type Sql = TestControlPlane["store"];

async function count(sql: Sql, table: string, where = "true", params: unknown[] = []): Promise<number> {
  const rows = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params);
  return rows[0]?.n ?? 0;
}

const TABLES = ["targets", "accounts", "policies", "policy_versions", "audit_events"] as const;
async function snapshot(sql: Sql): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t] = await count(sql, t);
  return out;
}

const HOUR = 3600_000;

const FILE_V1 = `# Who may ask for what.
policies:
  - name: web-ops
    subjects: { roles: [requester] }
    targets: [web-*]
    logins: [root, deploy]
    maxDuration: 2h
    approvals: { count: 1, from: { roles: [approver] } }
    requireReason: true
  - name: db-read
    subjects: { groups: [analysts] }
    labels: { env: prod }
    logins: [readonly]
    maxDuration: 1h
    approvals: { count: 0 }
`;

// The same policies, reordered and reformatted: not a change.
const FILE_V1_REFORMATTED = `policies:
  - name: db-read
    logins: [readonly]
    labels:
      env: prod
    subjects:
      groups: [analysts]
    approvals: { count: 0 }
    maxDuration: 60m
  - name: web-ops
    targets: [web-*]
    subjects: { roles: [requester] }
    logins: [root, deploy]
    maxDuration: 120m
    approvals:
      count: 1
      from: { roles: [approver] }
`;

const FILE_V2 = FILE_V1.replace("maxDuration: 2h", "maxDuration: 4h");
const FILE_WEB_ONLY = FILE_V1.slice(0, FILE_V1.indexOf("  - name: db-read"));

describe.each(STORE_KINDS)("inventory and policies on %s", (kind) => {
  let t: TestControlPlane;
  let cp: ControlPlane;
  let clock: FakeClock;

  beforeEach(async () => {
    clock = new FakeClock();
    t = await openControlPlane(kind, clock);
    cp = t.cp;
  });

  afterEach(async () => {
    await t.close();
  });

  /** Runs a call that must fail with code, and checks that it stored nothing. */
  async function refused(call: () => Promise<unknown>, code: string, what?: unknown): Promise<void> {
    const label = what === undefined ? code : `${code} for ${JSON.stringify(what)}`;
    const before = await snapshot(t.store);
    await expect(call(), label).rejects.toMatchObject({ code });
    expect(await snapshot(t.store), label).toEqual(before);
  }

  describe("targets", () => {
    it("adds, lists, gets and updates targets, auditing each change", async () => {
      const web = await cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "web-1.internal:22", labels: { env: "prod", "team/owner": "web" } });
      expect(web).toMatchObject({ name: "web-1", kind: "ssh", host: "web-1.internal", port: 22, address: "web-1.internal:22", labels: { env: "prod", "team/owner": "web" } });
      expect(web.createdAt.getTime()).toBe(clock.now());
      const db = await cp.inventory.addTarget("admin", { name: "billing-db", kind: "postgres", address: "10.0.0.5:5432" });
      expect(db.labels).toEqual({});
      const v6 = await cp.inventory.addTarget("admin", { name: "lo6", kind: "http", address: "[::1]:22" });
      expect(v6).toMatchObject({ host: "::1", port: 22, address: "[::1]:22" });

      expect((await cp.inventory.listTargets()).map((x) => x.name)).toEqual(["billing-db", "lo6", "web-1"]);
      expect(await cp.inventory.getTarget("web-1")).toEqual(web);
      expect(await cp.inventory.getTarget("lo6")).toEqual(v6);

      await clock.advance(HOUR);
      const moved = await cp.inventory.updateTarget("admin", "web-1", { address: "web-1.new:2222" });
      expect(moved).toMatchObject({ host: "web-1.new", port: 2222, address: "web-1.new:2222", labels: { env: "prod", "team/owner": "web" } });
      const relabelled = await cp.inventory.updateTarget("admin", "web-1", { labels: { env: "staging" } });
      expect(relabelled).toMatchObject({ address: "web-1.new:2222", labels: { env: "staging" } });
      expect(await cp.inventory.getTarget("web-1")).toEqual(relabelled);

      const created = await cp.audit.query({ type: "target.created" });
      expect(created.map((r) => r.data)).toEqual([
        { targetName: "web-1", kind: "ssh", address: "web-1.internal:22", labels: { env: "prod", "team/owner": "web" } },
        { targetName: "billing-db", kind: "postgres", address: "10.0.0.5:5432", labels: {} },
        { targetName: "lo6", kind: "http", address: "[::1]:22", labels: {} },
      ]);
      const updated = await cp.audit.query({ type: "target.updated" });
      expect(updated.map((r) => [r.actor, r.target, r.data])).toEqual([
        ["admin", "web-1", { targetName: "web-1", changes: { address: "web-1.new:2222" } }],
        ["admin", "web-1", { targetName: "web-1", changes: { labels: { env: "staging" } } }],
      ]);
    });

    it("refuses an unknown kind: INVALID_KIND, nothing stored", async () => {
      for (const badKind of ["ftp", "SSH", "", undefined, 42]) {
        await refused(() => cp.inventory.addTarget("admin", { name: "web-1", kind: badKind, address: "web-1:22" }), "INVALID_KIND", badKind ?? "undefined");
      }
    });

    it("refuses addresses that are not HOST:PORT: INVALID_ADDRESS, nothing stored", async () => {
      for (const address of ["host", "host:0", "host:99999", "host:65536", "-x:22", ".x:22", "a..b:22", "host:", ":22", "host:22 ", "[::1]", "::1:22", "[zz]:22", "host:-1", "host:2x", "user@host:22", 22, undefined]) {
        await refused(() => cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address }), "INVALID_ADDRESS", address);
      }
      expect(await cp.inventory.listTargets()).toEqual([]);
      // The edges that are fine.
      expect((await cp.inventory.addTarget("admin", { name: "p1", kind: "ssh", address: "host:1" })).port).toBe(1);
      expect((await cp.inventory.addTarget("admin", { name: "p2", kind: "ssh", address: "host:65535" })).port).toBe(65535);
      expect((await cp.inventory.addTarget("admin", { name: "p3", kind: "ssh", address: "192.168.1.10:22" })).host).toBe("192.168.1.10");
    });

    it("refuses bad labels: INVALID_LABELS, nothing stored", async () => {
      const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
      for (const labels of [{ Env: "prod" }, { "-env": "prod" }, { "": "x" }, { env: "has space" }, { env: "ünïcode" }, { env: "x".repeat(64) }, { env: 5 }, { env: null }, ["env"], "env=prod", tooMany]) {
        await refused(() => cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "web-1:22", labels }), "INVALID_LABELS", labels);
      }
      expect((await cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "web-1:22", labels: { env: "" } })).labels).toEqual({ env: "" });
    });

    it("refuses bad target names: INVALID_NAME, nothing stored", async () => {
      for (const name of ["Web-1", "ｗeb", "web 1", "web/1", "web@1", "", "a".repeat(64), "x'; DROP TABLE targets;--", null]) {
        await refused(() => cp.inventory.addTarget("admin", { name, kind: "ssh", address: "web-1:22" }), "INVALID_NAME", name);
      }
    });

    it("refuses a duplicate name: TARGET_EXISTS, nothing stored, the first untouched", async () => {
      const first = await cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "web-1:22" });
      await refused(() => cp.inventory.addTarget("admin", { name: "web-1", kind: "postgres", address: "db:5432" }), "TARGET_EXISTS");
      expect(await cp.inventory.getTarget("web-1")).toEqual(first);
    });

    it("answers concurrent adds of one name with one target and TARGET_EXISTS for the rest", async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: `web-${i}:22` })),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "TARGET_EXISTS", kind: "conflict" });
      expect(await count(t.store, "targets")).toBe(1);
      expect(await count(t.store, "audit_events", "type = 'target.created'")).toBe(1);
    });

    it("refuses bad updates and unknown targets, changing nothing", async () => {
      const web = await cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "web-1:22", labels: { env: "prod" } });
      await refused(() => cp.inventory.updateTarget("admin", "web-1", { address: "web-1:0" }), "INVALID_ADDRESS");
      await refused(() => cp.inventory.updateTarget("admin", "web-1", { address: "web-1:23", labels: { Env: "x" } }), "INVALID_LABELS");
      await refused(() => cp.inventory.updateTarget("admin", "web-2", { address: "web-2:22" }), "TARGET_NOT_FOUND");
      await expect(cp.inventory.getTarget("web-2")).rejects.toMatchObject({ code: "TARGET_NOT_FOUND", kind: "not-found" });
      expect(await cp.inventory.getTarget("web-1")).toEqual(web);
    });
  });

  describe("accounts", () => {
    beforeEach(async () => {
      await cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "web-1:22" });
      await cp.inventory.addTarget("admin", { name: "billing-db", kind: "postgres", address: "db:5432" });
      await cp.inventory.addTarget("admin", { name: "wiki", kind: "http", address: "wiki:443" });
    });

    it("adds accounts and lists them per target", async () => {
      const root = await cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "certificate" });
      expect(root).toMatchObject({ targetName: "web-1", login: "root", auth: "certificate", options: {} });
      await cp.inventory.addAccount("admin", "web-1", { login: "deploy", auth: "key", options: { shell: "/bin/sh" } });
      await cp.inventory.addAccount("admin", "billing-db", { login: "billing_admin", auth: "ephemeral", options: { grants: ["SELECT"] } });
      await cp.inventory.addAccount("admin", "billing-db", { login: "root", auth: "password" });
      await cp.inventory.addAccount("admin", "wiki", { login: "editor", auth: "password" });

      const web = await cp.inventory.listAccounts("web-1");
      expect(web.map((a) => [a.targetName, a.login, a.auth, a.options])).toEqual([
        ["web-1", "deploy", "key", { shell: "/bin/sh" }],
        ["web-1", "root", "certificate", {}],
      ]);
      expect(web.find((a) => a.login === "root")?.id).toBe(root.id);
      expect((await cp.inventory.listAccounts("billing-db")).map((a) => a.login)).toEqual(["billing_admin", "root"]);
      expect((await cp.inventory.listAccounts()).map((a) => `${a.login}@${a.targetName}`)).toEqual([
        "billing_admin@billing-db", "root@billing-db", "deploy@web-1", "root@web-1", "editor@wiki",
      ]);
      const created = await cp.audit.query({ type: "account.created" });
      expect(created[0]?.data).toEqual({ targetName: "web-1", login: "root", auth: "certificate" });
      expect(created).toHaveLength(5);
    });

    it("lists an empty target as empty, and an unknown one as TARGET_NOT_FOUND", async () => {
      expect(await cp.inventory.listAccounts("wiki")).toEqual([]);
      await expect(cp.inventory.listAccounts("nope")).rejects.toMatchObject({ code: "TARGET_NOT_FOUND" });
    });

    it("refuses an auth the target's kind cannot use: AUTH_NOT_SUPPORTED, nothing stored", async () => {
      for (const [target, auth] of [["web-1", "ephemeral"], ["billing-db", "key"], ["wiki", "certificate"], ["wiki", "key"], ["wiki", "ephemeral"]] as const) {
        await refused(() => cp.inventory.addAccount("admin", target, { login: "someone", auth }), "AUTH_NOT_SUPPORTED", `${target}/${auth}`);
      }
    });

    it("refuses unknown auth, unknown target, bad logins and bad options, storing nothing", async () => {
      await refused(() => cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "token" }), "INVALID_AUTH");
      await refused(() => cp.inventory.addAccount("admin", "web-1", { login: "root", auth: undefined }), "INVALID_AUTH");
      await refused(() => cp.inventory.addAccount("admin", "web-2", { login: "root", auth: "key" }), "TARGET_NOT_FOUND");
      for (const login of ["", "root@web-1", "ro ot", "-root", "röot", "a".repeat(64), 7]) {
        await refused(() => cp.inventory.addAccount("admin", "web-1", { login, auth: "key" }), "INVALID_LOGIN", login);
      }
      await refused(() => cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "key", options: ["x"] }), "INVALID_OPTIONS");
      await refused(() => cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "key", options: "x" }), "INVALID_OPTIONS");
      await refused(() => cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "key", options: { blob: "x".repeat(9000) } }), "INVALID_OPTIONS");
    });

    it("refuses a duplicate login on one target: ACCOUNT_EXISTS, nothing stored", async () => {
      await cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "key" });
      await refused(() => cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "password" }), "ACCOUNT_EXISTS");
      expect((await cp.inventory.listAccounts("web-1")).map((a) => a.auth)).toEqual(["key"]);
      // The same login on another target is another account.
      await cp.inventory.addAccount("admin", "billing-db", { login: "root", auth: "password" });
      // Logins are case-sensitive, as they are upstream.
      await cp.inventory.addAccount("admin", "web-1", { login: "Root", auth: "key" });
      expect(await count(t.store, "accounts")).toBe(3);
    });

    it("answers concurrent adds of one login with one account and ACCOUNT_EXISTS for the rest", async () => {
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "key" })));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "ACCOUNT_EXISTS" });
      expect(await count(t.store, "accounts")).toBe(1);
    });
  });

  describe("policy store", () => {
    const apply = async (text: string, prune = false, source = "policies.yaml") => cp.policies.apply("admin", parsePolicyFile(text, source), source, prune);

    it("applies a file as version 1 of each policy", async () => {
      const res = await apply(FILE_V1);
      expect(res).toEqual({
        applied: [
          { name: "web-ops", version: 1, changed: true },
          { name: "db-read", version: 1, changed: true },
        ],
        deleted: [],
      });
      const active = await cp.policies.active();
      expect(active.map((p) => [p.name, p.version, p.source])).toEqual([
        ["db-read", 1, "policies.yaml"],
        ["web-ops", 1, "policies.yaml"],
      ]);
      const web = active.find((p) => p.name === "web-ops")?.spec;
      expect(web).toMatchObject({ targets: ["web-*"], logins: ["root", "deploy"], maxDurationMs: 2 * HOUR, approvals: { count: 1 }, requireReason: true });
      expect(active.find((p) => p.name === "db-read")?.spec).toMatchObject({ targets: null, labels: { env: "prod" }, approvals: { count: 0 } });
      const audited = await cp.audit.query({ type: "policy.applied" });
      expect(audited.map((r) => r.data)).toEqual([
        { policyName: "web-ops", version: 1, source: "policies.yaml" },
        { policyName: "db-read", version: 1, source: "policies.yaml" },
      ]);
    });

    it("reports an unchanged file as unchanged, and stores nothing for it", async () => {
      await apply(FILE_V1);
      const before = await snapshot(t.store);
      for (const text of [FILE_V1, FILE_V1_REFORMATTED]) {
        expect(await apply(text, true, "other-name.yaml")).toEqual({
          applied: expect.arrayContaining([
            { name: "web-ops", version: 1, changed: false },
            { name: "db-read", version: 1, changed: false },
          ]),
          deleted: [],
        });
      }
      expect(await snapshot(t.store)).toEqual(before);
      expect((await cp.policies.active()).map((p) => p.version)).toEqual([1, 1]);
    });

    it("bumps the version on a change and keeps the old spec on record", async () => {
      await apply(FILE_V1);
      await clock.advance(HOUR);
      const res = await apply(FILE_V2, false, "v2.yaml");
      expect(res.applied).toEqual([
        { name: "web-ops", version: 2, changed: true },
        { name: "db-read", version: 1, changed: false },
      ]);
      const active = await cp.policies.active();
      const web = active.find((p) => p.name === "web-ops");
      expect(web).toMatchObject({ version: 2, source: "v2.yaml", spec: { maxDurationMs: 4 * HOUR } });
      expect(web?.updatedAt.getTime()).toBe(clock.now());
      expect(active.find((p) => p.name === "db-read")).toMatchObject({ version: 1, source: "policies.yaml" });

      expect((await cp.policies.version(t.store, "web-ops", 1)).maxDurationMs).toBe(2 * HOUR);
      expect((await cp.policies.version(t.store, "web-ops", 2)).maxDurationMs).toBe(4 * HOUR);
      await expect(cp.policies.version(t.store, "web-ops", 3)).rejects.toMatchObject({ code: "POLICY_NOT_FOUND", kind: "not-found" });
      const versions = await t.store.query<{ name: string; version: number; source: string; applied_by: string }>(
        "SELECT name, version, source, applied_by FROM policy_versions ORDER BY name, version",
      );
      expect(versions).toEqual([
        { name: "db-read", version: 1, source: "policies.yaml", applied_by: "admin" },
        { name: "web-ops", version: 1, source: "policies.yaml", applied_by: "admin" },
        { name: "web-ops", version: 2, source: "v2.yaml", applied_by: "admin" },
      ]);
      expect(await count(t.store, "audit_events", "type = 'policy.applied'")).toBe(3);
    });

    it("prunes policies missing from the file only when asked, keeping their history", async () => {
      await apply(FILE_V1);
      // Without prune a missing policy stays.
      expect(await apply(FILE_WEB_ONLY)).toEqual({ applied: [{ name: "web-ops", version: 1, changed: false }], deleted: [] });
      expect((await cp.policies.active()).map((p) => p.name)).toEqual(["db-read", "web-ops"]);

      const res = await apply(FILE_WEB_ONLY, true, "web.yaml");
      expect(res).toEqual({ applied: [{ name: "web-ops", version: 1, changed: false }], deleted: [{ name: "db-read", version: 2 }] });
      expect((await cp.policies.active()).map((p) => p.name)).toEqual(["web-ops"]);
      // The version that judged past requests can still be read; the deletion has no spec.
      expect((await cp.policies.version(t.store, "db-read", 1)).labels).toEqual({ env: "prod" });
      await expect(cp.policies.version(t.store, "db-read", 2)).rejects.toMatchObject({ code: "POLICY_NOT_FOUND" });
      const deleted = await cp.audit.query({ type: "policy.deleted" });
      expect(deleted.map((r) => r.data)).toEqual([{ policyName: "db-read", version: 2, source: "web.yaml" }]);

      // Pruning again deletes nothing more.
      const before = await snapshot(t.store);
      expect((await apply(FILE_WEB_ONLY, true)).deleted).toEqual([]);
      expect(await snapshot(t.store)).toEqual(before);

      // Bringing it back is a new version, even with the old content.
      const back = await apply(FILE_V1, true);
      expect(back.applied).toContainEqual({ name: "db-read", version: 3, changed: true });
      expect((await cp.policies.active()).map((p) => [p.name, p.version])).toEqual([
        ["db-read", 3],
        ["web-ops", 1],
      ]);
      expect(await count(t.store, "policy_versions", "name = 'db-read'")).toBe(3);
    });

    it("applies nothing from a file with an error", async () => {
      await apply(FILE_V1);
      const broken = FILE_V2.replace("maxDuration: 1h", "maxDuration: forever");
      await refused(() => apply(broken), "INVALID_FILE");
      await refused(async () => parsePolicyFile(`${FILE_V2}  - name: web-ops\n    subjects: { roles: [admin] }\n    targets: [x]\n    logins: [x]\n    maxDuration: 1h\n    approvals: { count: 0 }\n`, "dup.yaml"), "INVALID_FILE");
      expect((await cp.policies.active()).map((p) => p.version)).toEqual([1, 1]);
    });

    it("gives concurrent applies of different files distinct versions", async () => {
      const files = ["1h", "2h", "3h", "4h", "5h"].map((d) => FILE_WEB_ONLY.replace("maxDuration: 2h", `maxDuration: ${d}`));
      const results = await Promise.all(files.map((text, i) => apply(text, false, `f${i}.yaml`)));
      const versions = results.map((r) => r.applied[0]?.version).sort();
      expect(versions).toEqual([1, 2, 3, 4, 5]);
      expect(results.every((r) => r.applied[0]?.changed)).toBe(true);
      const rows = await t.store.query<{ version: number; source: string }>("SELECT version, source FROM policy_versions WHERE name = 'web-ops' ORDER BY version");
      expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5]);
      // The live policy is the one with the highest version, from whichever file wrote it.
      const [active] = await cp.policies.active();
      expect(active?.version).toBe(5);
      expect(active?.source).toBe(rows[4]?.source);
      expect(active?.spec).toEqual(await cp.policies.version(t.store, "web-ops", 5));
    });

    it("gives concurrent applies of two files distinct versions of each policy", async () => {
      const [a, b] = await Promise.all([apply(FILE_V1, false, "a.yaml"), apply(FILE_V2, false, "b.yaml")]);
      const web = [a, b].map((r) => r?.applied.find((p) => p.name === "web-ops")?.version).sort();
      expect(web).toEqual([1, 2]);
      const db = [a, b].map((r) => r?.applied.find((p) => p.name === "db-read"));
      // Both files hold the same db-read: whichever came second found nothing to change.
      expect(db.map((p) => p?.version)).toEqual([1, 1]);
      expect(db.filter((p) => p?.changed)).toHaveLength(1);
      expect(await count(t.store, "policy_versions")).toBe(3);
    });
  });
});
