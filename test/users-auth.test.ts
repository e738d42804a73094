// Users, login, tokens and contractor expiry, as the control plane serves them, on both
// stores: embedded PGlite and a real PostgreSQL.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ensureAdmin, parsePolicyFile, type Actor, type ControlPlane, type User } from "../policies/index.js";
import { openControlPlane, STORE_KINDS, type TestControlPlane } from "./support/control-plane.js";
import { FakeClock } from "./support/fake-clock.js";

const PW = "correct-horse-battery";
const OTHER_PW = "another-long-passphrase";
const HOUR = 3600_000;
const MINUTE = 60_000;
/** The session TTL the test control plane is built with. */
const SESSION_TTL = HOUR;

type Sql = TestControlPlane["store"];

async function count(sql: Sql, table: string, where = "true", params: unknown[] = []): Promise<number> {
  const rows = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params);
  return rows[0]?.n ?? 0;
}

const TABLES = ["users", "api_tokens", "login_failures", "requests", "grants", "audit_events"] as const;
async function snapshot(sql: Sql): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t] = await count(sql, t);
  return out;
}

const actorOf = (u: User): Actor => ({ id: u.id, name: u.name, roles: u.roles, groups: u.groups });
const iso = (ms: number) => new Date(ms).toISOString();

describe.each(STORE_KINDS)("users and auth on %s", (kind) => {
  let t: TestControlPlane;
  let cp: ControlPlane;
  let clock: FakeClock;

  beforeEach(async () => {
    clock = new FakeClock();
    // A sweep interval beyond every test's horizon: grants must end by the expiry timer alone.
    t = await openControlPlane(kind, clock, { sweepIntervalMs: 7 * 24 * HOUR });
    cp = t.cp;
  });

  afterEach(async () => {
    await t.close();
  });

  /** The admin to act as; created directly, since ensureAdmin only acts on an empty store. */
  async function admin(): Promise<Actor> {
    const existing = (await cp.users.list()).find((u) => u.name === "admin");
    return actorOf(existing ?? (await cp.users.create("system", { name: "admin", roles: ["admin"], password: PW, mustChangePassword: false })));
  }

  describe("first start", () => {
    it("creates admin with a one-time password that logs in but must be changed", async () => {
      const first = await ensureAdmin(cp, null);
      expect(first.created).toBe(true);
      const oneTime = first.created ? first.oneTimePassword : null;
      expect(oneTime).toEqual(expect.any(String));
      expect((oneTime ?? "").length).toBeGreaterThanOrEqual(12);

      const login = await cp.auth.login("admin", oneTime ?? "", "127.0.0.1");
      expect(login.user.name).toBe("admin");
      expect(login.user.roles).toEqual(["admin"]);
      expect(login.user.mustChangePassword).toBe(true);

      // Changing it clears the flag, and the new password is the one that works.
      await cp.users.changeOwnPassword(actorOf(login.user), OTHER_PW);
      expect((await cp.users.get("admin")).mustChangePassword).toBe(false);
      await expect(cp.auth.login("admin", oneTime ?? "", null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });
      expect((await cp.auth.login("admin", OTHER_PW, null)).user.mustChangePassword).toBe(false);
    });

    it("creates nothing on the second start", async () => {
      await ensureAdmin(cp, null);
      const before = await snapshot(t.store);
      expect(await ensureAdmin(cp, null)).toEqual({ created: false });
      expect(await ensureAdmin(cp, PW)).toEqual({ created: false });
      expect(await snapshot(t.store)).toEqual(before);
      expect(before.users).toBe(1);
    });

    it("uses a given password without asking for a change", async () => {
      expect(await ensureAdmin(cp, PW)).toEqual({ created: true, oneTimePassword: null });
      const login = await cp.auth.login("admin", PW, null);
      expect(login.user.mustChangePassword).toBe(false);
      const created = await cp.audit.query({ type: "user.created" });
      expect(created.map((r) => [r.actor, r.target])).toEqual([["system", "admin"]]);
    });

    it("refuses a weak given password and stores nothing", async () => {
      await expect(ensureAdmin(cp, "short")).rejects.toMatchObject({ code: "WEAK_PASSWORD", kind: "invalid" });
      expect(await snapshot(t.store)).toEqual({ users: 0, api_tokens: 0, login_failures: 0, requests: 0, grants: 0, audit_events: 0 });
    });

    it("creates exactly one admin when two nodes start together", async () => {
      const results = await Promise.all([ensureAdmin(cp, null), ensureAdmin(cp, null)]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(await count(t.store, "users")).toBe(1);
    });
  });

  describe("creating users", () => {
    it("stores a user that can log in", async () => {
      const u = await cp.users.create("admin", { name: "alice", roles: ["requester", "approver", "requester"], groups: ["ops", "dba", "ops"], password: PW });
      expect(u).toMatchObject({ name: "alice", roles: ["approver", "requester"], groups: ["dba", "ops"], expiresAt: null, disabledAt: null, mustChangePassword: true });
      expect((await cp.users.list()).map((x) => x.name)).toEqual(["alice"]);
      const [row] = await t.store.query<{ password_hash: string }>("SELECT password_hash FROM users WHERE name = 'alice'");
      expect(row?.password_hash).toMatch(/^\$argon2id\$/);
      expect(row?.password_hash).not.toContain(PW);
    });

    it("refuses odd, look-alike, SQL-looking, empty and over-long names: INVALID_NAME, nothing stored", async () => {
      await admin();
      const badNames: [string, unknown][] = [
        ["fullwidth look-alike", "ａdmin"],
        ["zero-width space", "bob\u200b"],
        ["upper case", "Bob"],
        ["SQL-looking text", "x'; DROP TABLE users;--"],
        ["empty", ""],
        ["64 characters", "a".repeat(64)],
        ["leading dash", "-bob"],
        ["space", "bob smith"],
        ["not text", 42],
      ];
      for (const [what, name] of badNames) {
        const before = await snapshot(t.store);
        await expect(cp.users.create("admin", { name: name as string, roles: ["requester"], password: PW }), what).rejects.toMatchObject({
          code: "INVALID_NAME",
          kind: "invalid",
        });
        expect(await snapshot(t.store), what).toEqual(before);
      }
      expect((await cp.users.list()).map((u) => u.name)).toEqual(["admin"]);
    });

    it("accepts a 63-character name", async () => {
      const name = "a".repeat(63);
      expect((await cp.users.create("admin", { name, roles: ["requester"], password: PW })).name).toBe(name);
    });

    it("refuses a duplicate name: USER_EXISTS, nothing stored", async () => {
      await cp.users.create("admin", { name: "bob", roles: ["requester"], password: PW });
      const before = await snapshot(t.store);
      await expect(cp.users.create("admin", { name: "bob", roles: ["admin"], password: OTHER_PW })).rejects.toMatchObject({
        code: "USER_EXISTS",
        kind: "conflict",
      });
      expect(await snapshot(t.store)).toEqual(before);
      // The first bob is untouched.
      expect((await cp.auth.login("bob", PW, null)).user.roles).toEqual(["requester"]);
    });

    it("refuses unknown roles, or none: INVALID_ROLES, nothing stored", async () => {
      for (const roles of [["superuser"], ["requester", "root"], [], "admin"]) {
        const before = await snapshot(t.store);
        await expect(cp.users.create("admin", { name: "carol", roles: roles as string[], password: PW }), JSON.stringify(roles)).rejects.toMatchObject({
          code: "INVALID_ROLES",
        });
        expect(await snapshot(t.store)).toEqual(before);
      }
    });

    it("answers concurrent creates of one name with one user and USER_EXISTS for the rest", async () => {
      // No password, so no hashing staggers the calls: they reach the store together.
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => cp.users.create("admin", { name: "gus", roles: ["requester"] })));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "USER_EXISTS", kind: "conflict" });
      expect(await count(t.store, "users")).toBe(1);
      expect(await count(t.store, "audit_events", "type = 'user.created'")).toBe(1);
    });

    it("refuses a weak password: WEAK_PASSWORD, nothing stored", async () => {
      const before = await snapshot(t.store);
      await expect(cp.users.create("admin", { name: "dan", roles: ["requester"], password: "eleven-char" })).rejects.toMatchObject({
        code: "WEAK_PASSWORD",
        kind: "invalid",
      });
      expect(await snapshot(t.store)).toEqual(before);
    });

    it("refuses an expiry that is not a date: INVALID_EXPIRY, nothing stored", async () => {
      const before = await snapshot(t.store);
      await expect(cp.users.create("admin", { name: "erin", roles: ["requester"], password: PW, expiresAt: "next friday" })).rejects.toMatchObject({
        code: "INVALID_EXPIRY",
      });
      expect(await snapshot(t.store)).toEqual(before);
    });

    it("refuses a bad group name: INVALID_NAME, nothing stored", async () => {
      const before = await snapshot(t.store);
      await expect(cp.users.create("admin", { name: "fay", roles: ["requester"], groups: ["Vendors"], password: PW })).rejects.toMatchObject({
        code: "INVALID_NAME",
      });
      expect(await snapshot(t.store)).toEqual(before);
    });
  });

  describe("login", () => {
    beforeEach(async () => {
      await cp.users.create("admin", { name: "alice", roles: ["requester"], password: PW });
    });

    it("logs in with the right password and audits it", async () => {
      const res = await cp.auth.login("alice", PW, "10.0.0.7");
      expect(res.user.name).toBe("alice");
      expect(res.token).toMatch(/^jgt_/);
      expect(res.expiresAt.getTime()).toBe(clock.now() + SESSION_TTL);
      const [login] = await cp.audit.query({ type: "auth.login" });
      expect(login?.data).toEqual({ userName: "alice", clientAddress: "10.0.0.7" });
      // Only a hash of the token is stored.
      const [row] = await t.store.query<{ token_hash: string }>("SELECT token_hash FROM api_tokens");
      expect(row?.token_hash).not.toContain(res.token);
    });

    it("refuses a wrong password with LOGIN_FAILED and audits bad-password", async () => {
      const before = await snapshot(t.store);
      await expect(cp.auth.login("alice", OTHER_PW, "10.0.0.7")).rejects.toMatchObject({ code: "LOGIN_FAILED", kind: "unauthenticated" });
      expect(await count(t.store, "api_tokens")).toBe(before.api_tokens);
      expect(await count(t.store, "audit_events")).toBe((before.audit_events ?? 0) + 1);
      const failed = await cp.audit.query({ type: "auth.login_failed" });
      expect(failed.map((r) => r.data)).toEqual([{ userName: "alice", reason: "bad-password", clientAddress: "10.0.0.7" }]);
    });

    it("answers an unknown user exactly like a wrong password", async () => {
      const wrong = await cp.auth.login("alice", OTHER_PW, null).catch((e: unknown) => e);
      const unknown = await cp.auth.login("mallory", OTHER_PW, null).catch((e: unknown) => e);
      expect(unknown).toMatchObject({ code: "LOGIN_FAILED", kind: "unauthenticated" });
      expect((unknown as Error).message).toBe((wrong as Error).message);
      expect(await count(t.store, "api_tokens")).toBe(0);
      const reasons = (await cp.audit.query({ type: "auth.login_failed" })).map((r) => r.data);
      expect(reasons).toEqual([
        { userName: "alice", reason: "bad-password" },
        { userName: "mallory", reason: "unknown-user" },
      ]);
    });

    it("refuses silly input without touching the store", async () => {
      const before = await snapshot(t.store);
      for (const [name, pw] of [["", PW], ["a".repeat(201), PW], ["alice", "x".repeat(1025)]] as const) {
        await expect(cp.auth.login(name, pw, null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });
      }
      expect(await snapshot(t.store)).toEqual(before);
    });

    it("throttles after the free failures, doubling the delay; waiting it out lets a correct password in and resets the count", async () => {
      const failedCount = () => count(t.store, "audit_events", "type = 'auth.login_failed'");
      // Three free failures; the third one starts the delay.
      for (let i = 0; i < 3; i++) await expect(cp.auth.login("alice", OTHER_PW, null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });

      // Throttled: even the right password is not checked, and no token is issued.
      await expect(cp.auth.login("alice", PW, null)).rejects.toMatchObject({ code: "LOGIN_THROTTLED", kind: "throttled", details: { retryAfterSeconds: 1 } });
      expect(await count(t.store, "api_tokens")).toBe(0);
      const throttled = await cp.audit.query({ type: "auth.login_failed" });
      expect(throttled.at(-1)?.data).toEqual({ userName: "alice", reason: "throttled" });
      // A throttled attempt is audited but does not count as another failure.
      const [row] = await t.store.query<{ failures: number }>("SELECT failures FROM login_failures WHERE name = 'alice'");
      expect(row?.failures).toBe(3);

      await clock.advance(1_000);
      await expect(cp.auth.login("alice", OTHER_PW, null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });
      await expect(cp.auth.login("alice", PW, null)).rejects.toMatchObject({ code: "LOGIN_THROTTLED", details: { retryAfterSeconds: 2 } });
      await clock.advance(1_000);
      await expect(cp.auth.login("alice", PW, null)).rejects.toMatchObject({ code: "LOGIN_THROTTLED", details: { retryAfterSeconds: 1 } });
      await clock.advance(1_000);
      await expect(cp.auth.login("alice", OTHER_PW, null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });
      await expect(cp.auth.login("alice", PW, null)).rejects.toMatchObject({ code: "LOGIN_THROTTLED", details: { retryAfterSeconds: 4 } });
      await clock.advance(3_999);
      await expect(cp.auth.login("alice", PW, null)).rejects.toMatchObject({ code: "LOGIN_THROTTLED", details: { retryAfterSeconds: 1 } });
      const failuresBefore = await failedCount();

      await clock.advance(1);
      const ok = await cp.auth.login("alice", PW, null);
      expect(ok.user.name).toBe("alice");
      expect(await failedCount()).toBe(failuresBefore);
      expect(await count(t.store, "login_failures")).toBe(0);

      // The count starts again: one failure is free once more.
      await expect(cp.auth.login("alice", OTHER_PW, null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });
      await expect(cp.auth.login("alice", PW, null)).resolves.toMatchObject({ user: { name: "alice" } });
    });

    it("counts guesses sent in parallel, so a burst gets no more than the free failures", async () => {
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => cp.auth.login("alice", OTHER_PW, null)));
      const codes = results.map((r) => (r.status === "rejected" ? (r.reason as { code?: string }).code : "ok")).sort();
      expect(codes).toEqual([...Array(3).fill("LOGIN_FAILED"), ...Array(5).fill("LOGIN_THROTTLED")]);
      const [row] = await t.store.query<{ failures: number }>("SELECT failures FROM login_failures WHERE name = 'alice'");
      expect(row?.failures).toBe(3);
      expect(await count(t.store, "api_tokens")).toBe(0);
    });

    it("throttles an unknown name the same way, so the delay reveals nothing", async () => {
      for (let i = 0; i < 3; i++) await expect(cp.auth.login("mallory", OTHER_PW, null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });
      await expect(cp.auth.login("mallory", OTHER_PW, null)).rejects.toMatchObject({ code: "LOGIN_THROTTLED", details: { retryAfterSeconds: 1 } });
      // Another name is not affected.
      await expect(cp.auth.login("alice", PW, null)).resolves.toMatchObject({ user: { name: "alice" } });
    });
  });

  describe("tokens", () => {
    let alice: User;
    beforeEach(async () => {
      alice = await cp.users.create("admin", { name: "alice", roles: ["requester"], password: PW });
    });

    it("resolves a token to its user until the session TTL has passed", async () => {
      const { token, id } = await cp.auth.login("alice", PW, null);
      const resolved = await cp.tokens.resolve(token);
      expect(resolved.user.name).toBe("alice");
      expect(resolved.tokenId).toBe(id);

      await clock.advance(SESSION_TTL - 1);
      expect((await cp.tokens.resolve(token)).user.id).toBe(alice.id);
      await clock.advance(1);
      await expect(cp.tokens.resolve(token)).rejects.toMatchObject({ code: "TOKEN_EXPIRED", kind: "unauthenticated" });
    });

    it("refuses a revoked token and audits the revocation once", async () => {
      const { token, id } = await cp.auth.login("alice", PW, null);
      await cp.tokens.revoke(id, alice);
      await expect(cp.tokens.resolve(token)).rejects.toMatchObject({ code: "TOKEN_REVOKED", kind: "unauthenticated" });
      await cp.tokens.revoke(id, alice);
      expect((await cp.audit.query({ type: "token.revoked" })).map((r) => r.data)).toEqual([{ tokenId: id, userName: "alice" }]);
      // Another login still works, with a new token.
      const again = await cp.auth.login("alice", PW, null);
      expect((await cp.tokens.resolve(again.token)).user.name).toBe("alice");
    });

    it("refuses garbage and unknown tokens: TOKEN_INVALID", async () => {
      await cp.auth.login("alice", PW, null);
      const before = await snapshot(t.store);
      for (const token of ["garbage", "", "jgt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", `jgt_${"x".repeat(500)}`, "jgt_' OR '1'='1"]) {
        await expect(cp.tokens.resolve(token), token).rejects.toMatchObject({ code: "TOKEN_INVALID", kind: "unauthenticated" });
      }
      expect(await snapshot(t.store)).toEqual(before);
    });

    it("revokes a user's tokens when an admin sets their password, and asks them to change it", async () => {
      const a = await admin();
      const first = await cp.auth.login("alice", PW, null);
      const second = await cp.auth.login("alice", PW, null);
      const adminToken = await cp.auth.login("admin", PW, null);

      const updated = await cp.users.update(a, "alice", { password: OTHER_PW });
      expect(updated.mustChangePassword).toBe(true);
      await expect(cp.tokens.resolve(first.token)).rejects.toMatchObject({ code: "TOKEN_REVOKED" });
      await expect(cp.tokens.resolve(second.token)).rejects.toMatchObject({ code: "TOKEN_REVOKED" });
      // Nobody else's token is touched.
      expect((await cp.tokens.resolve(adminToken.token)).user.name).toBe("admin");
      await expect(cp.auth.login("alice", PW, null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });
      expect((await cp.auth.login("alice", OTHER_PW, null)).user.mustChangePassword).toBe(true);
      // The audit row says a password changed, never what it is.
      const [upd] = await cp.audit.query({ type: "user.updated" });
      expect(upd?.data).toEqual({ userName: "alice", changes: { password: "(changed)" } });
    });

    it("keeps tokens and the old password when the new password is refused", async () => {
      const a = await admin();
      const { token } = await cp.auth.login("alice", PW, null);
      const before = await snapshot(t.store);
      await expect(cp.users.update(a, "alice", { password: "too-short" })).rejects.toMatchObject({ code: "WEAK_PASSWORD" });
      expect(await snapshot(t.store)).toEqual(before);
      expect((await cp.tokens.resolve(token)).user.name).toBe("alice");
      expect((await cp.auth.login("alice", PW, null)).user.name).toBe("alice");
    });

    it("refuses to update an unknown user: USER_NOT_FOUND, nothing stored", async () => {
      const a = await admin();
      const before = await snapshot(t.store);
      await expect(cp.users.update(a, "nobody", { roles: ["admin"] })).rejects.toMatchObject({ code: "USER_NOT_FOUND", kind: "not-found" });
      await expect(cp.users.update(a, "alice", { roles: ["root"] })).rejects.toMatchObject({ code: "INVALID_ROLES" });
      expect(await snapshot(t.store)).toEqual(before);
      expect((await cp.users.get("alice")).roles).toEqual(["requester"]);
    });
  });

  describe("contractors and disabled users", () => {
    const POLICY = `
policies:
  - name: contractors
    subjects: { roles: [requester] }
    targets: [web-*]
    logins: [deploy, root]
    maxDuration: 8h
    approvals: { count: 0 }
    requireReason: true
`;

    beforeEach(async () => {
      await cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "web-1.internal:22" });
      await cp.inventory.addAccount("admin", "web-1", { login: "deploy", auth: "key" });
      await cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "key" });
      await cp.policies.apply("admin", parsePolicyFile(POLICY, "policies.yaml"), "policies.yaml", false);
    });

    async function contractor(expiresInMs: number): Promise<User> {
      return cp.users.create("admin", { name: "vera", roles: ["requester"], groups: ["vendors"], password: PW, expiresAt: iso(clock.now() + expiresInMs) });
    }

    const grantRow = async (id: string) => {
      const [row] = await t.store.query<{ not_before: Date; not_after: Date; ended_at: Date | null; end_reason: string | null }>(
        "SELECT not_before, not_after, ended_at, end_reason FROM grants WHERE id = $1",
        [id],
      );
      if (!row) throw new Error(`no grant ${id}`);
      return row;
    };

    it("lets a contractor log in and request before the end, and nothing after it", async () => {
      const vera = await contractor(30 * MINUTE);
      const { token } = await cp.auth.login("vera", PW, null);
      expect((await cp.tokens.resolve(token)).user.expiresAt?.getTime()).toBe(clock.now() + 30 * MINUTE);
      const req = await cp.requests.create(actorOf(vera), { target: "web-1", login: "deploy", duration: "2h", reason: "deploy fix" });
      expect(req.state).toBe("approved");
      // The grant never outlives the account.
      const g = await grantRow(req.grantId ?? "");
      expect(g.not_after.getTime()).toBe(clock.now() + 30 * MINUTE);

      await clock.advance(30 * MINUTE);
      const before = await snapshot(t.store);

      // The token has not reached its own TTL, but the account behind it has ended.
      await expect(cp.tokens.resolve(token)).rejects.toMatchObject({ code: "USER_EXPIRED", kind: "unauthenticated" });
      await expect(cp.requests.create(actorOf(vera), { target: "web-1", login: "root", duration: "1h", reason: "more" })).rejects.toMatchObject({
        code: "USER_EXPIRED",
        kind: "forbidden",
      });
      expect(await snapshot(t.store)).toEqual(before);

      // Only the right password learns that the account has expired; the failure is audited.
      await expect(cp.auth.login("vera", OTHER_PW, null)).rejects.toMatchObject({ code: "LOGIN_FAILED" });
      await expect(cp.auth.login("vera", PW, null)).rejects.toMatchObject({ code: "USER_EXPIRED", kind: "unauthenticated" });
      const after = await snapshot(t.store);
      expect(after.api_tokens).toBe(before.api_tokens);
      expect(after.audit_events).toBe((before.audit_events ?? 0) + 2);
      const reasons = (await cp.audit.query({ type: "auth.login_failed" })).map((r) => (r.data as { reason: string }).reason);
      expect(reasons).toEqual(["bad-password", "expired"]);
      expect(await cp.grants.findLive("vera", "web-1", "deploy")).toBeNull();
    });

    it("clamps an active grant when the contractor's end moves earlier, and the expiry clock ends it then", async () => {
      await cp.expiry.start();
      const vera = await contractor(10 * HOUR);
      const start = clock.now();
      const active = await cp.requests.create(actorOf(vera), { target: "web-1", login: "deploy", duration: "4h", reason: "migration" });
      // Starts later than the new end will be: it must never begin.
      const later = await cp.requests.create(actorOf(vera), {
        target: "web-1", login: "root", duration: "1h", reason: "cleanup", startAt: iso(start + 5 * HOUR),
      });
      const activeId = active.grantId ?? "";
      const laterId = later.grantId ?? "";
      expect((await grantRow(activeId)).not_after.getTime()).toBe(start + 4 * HOUR);
      t.events.length = 0;

      const a = await admin();
      const newEnd = start + HOUR;
      await cp.users.update(a, "vera", { expiresAt: iso(newEnd) });

      expect((await grantRow(activeId)).not_after.getTime()).toBe(newEnd);
      expect(t.events).toContainEqual(expect.objectContaining({ type: "grant.scheduled", grantId: activeId, userId: vera.id, notBefore: iso(start), notAfter: iso(newEnd) }));
      // The grant that had not started ends at once.
      expect(t.events).toContainEqual(expect.objectContaining({ type: "grant.ended", grantId: laterId, reason: "expired" }));
      expect(await grantRow(laterId)).toMatchObject({ end_reason: "expired" });
      expect(t.events.filter((e) => e.type === "grant.ended").map((e) => e.grantId)).toEqual([laterId]);
      expect(t.events).toContainEqual({ type: "user.changed", userId: vera.id, userName: "vera" });
      expect(await cp.grants.findLive("vera", "web-1", "deploy")).toMatchObject({ grantId: activeId, notAfter: new Date(newEnd) });

      // Just before the new end the grant is still open; at the end the timer ends it.
      await clock.advance(HOUR - 1);
      expect((await grantRow(activeId)).ended_at).toBeNull();
      await clock.advance(1);
      await vi.waitFor(async () => expect((await grantRow(activeId)).ended_at).not.toBeNull(), { timeout: 10_000, interval: 20 });
      expect(await grantRow(activeId)).toMatchObject({ end_reason: "expired" });
      expect(t.events).toContainEqual(expect.objectContaining({ type: "grant.ended", grantId: activeId, reason: "expired", notAfter: iso(newEnd) }));
      const ended = await cp.audit.query({ type: "grant.ended" });
      expect(ended.map((r) => (r.data as { grantId: string }).grantId).sort()).toEqual([activeId, laterId].sort());
    });

    it("leaves grants alone when the contractor's end moves later", async () => {
      const vera = await contractor(10 * HOUR);
      const req = await cp.requests.create(actorOf(vera), { target: "web-1", login: "deploy", duration: "2h", reason: "work" });
      t.events.length = 0;
      await cp.users.update(await admin(), "vera", { expiresAt: iso(clock.now() + 20 * HOUR) });
      expect((await grantRow(req.grantId ?? "")).not_after.getTime()).toBe(clock.now() + 2 * HOUR);
      expect(t.events.filter((e) => e.type !== "user.changed")).toEqual([]);
    });

    it("disabling a user revokes their open grants and tokens", async () => {
      await cp.expiry.start();
      const dave = await cp.users.create("admin", { name: "dave", roles: ["requester"], password: PW });
      const { token } = await cp.auth.login("dave", PW, null);
      const req = await cp.requests.create(actorOf(dave), { target: "web-1", login: "deploy", duration: "2h", reason: "work" });
      const grantId = req.grantId ?? "";
      const a = await admin();
      t.events.length = 0;

      const updated = await cp.users.update(a, "dave", { disabled: true });
      expect(updated.disabledAt?.getTime()).toBe(clock.now());
      expect(t.events).toContainEqual(expect.objectContaining({ type: "grant.ended", grantId, reason: "revoked", userName: "dave" }));
      expect(await grantRow(grantId)).toMatchObject({ end_reason: "revoked" });
      expect((await cp.audit.query({ type: "grant.revoked" })).map((r) => r.data)).toEqual([{ grantId, by: "admin", reason: "user disabled" }]);
      await expect(cp.tokens.resolve(token)).rejects.toMatchObject({ code: "TOKEN_REVOKED" });
      expect(await cp.grants.findLive("dave", "web-1", "deploy")).toBeNull();
      await expect(cp.auth.login("dave", PW, null)).rejects.toMatchObject({ code: "USER_DISABLED" });
      const before = await snapshot(t.store);
      await expect(cp.requests.create(actorOf(dave), { target: "web-1", login: "root", duration: "1h", reason: "x" })).rejects.toMatchObject({
        code: "USER_DISABLED",
        kind: "forbidden",
      });
      expect(await snapshot(t.store)).toEqual(before);

      // Enabling again restores login, but not the revoked grant.
      await cp.users.update(a, "dave", { disabled: false });
      expect((await cp.auth.login("dave", PW, null)).user.disabledAt).toBeNull();
      expect(await cp.grants.findLive("dave", "web-1", "deploy")).toBeNull();
    });

    it("refuses to let an admin disable themselves: SELF_DISABLE, nothing stored", async () => {
      const a = await admin();
      const { token } = await cp.auth.login("admin", PW, null);
      const before = await snapshot(t.store);
      await expect(cp.users.update(a, "admin", { disabled: true })).rejects.toMatchObject({ code: "SELF_DISABLE" });
      expect(await snapshot(t.store)).toEqual(before);
      expect((await cp.tokens.resolve(token)).user.disabledAt).toBeNull();
    });
  });
});
