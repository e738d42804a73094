// Requests, approvals, grants, extensions and revocations at the service level, on the
// embedded store and on a real PostgreSQL. Every refusal must leave nothing behind.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ControlError, parsePolicyFile, type AccessRequest, type Actor, type ErrorKind, type User } from "../policies/index.js";
import { STORE_KINDS, openControlPlane, type StoreKind, type TestControlPlane } from "./support/control-plane.js";
import { FakeClock } from "./support/fake-clock.js";

const MIN = 60_000;
const HOUR = 60 * MIN;

const POLICIES = `
policies:
  - name: web-ops
    subjects: { roles: [requester] }
    targets: [web-*]
    logins: [root, deploy]
    maxDuration: 2h
    requestTtl: 1h
    approvals: { count: 2, from: { groups: [approvers] } }
    requireReason: true
  - name: db-read
    subjects: { roles: [requester] }
    targets: [db-1]
    logins: [readonly]
    maxDuration: 1h
    approvals: { count: 1, from: { groups: [approvers] } }
    requireReason: false
    autoApprove:
      - subjects: { groups: [oncall] }
  - name: sandbox
    subjects: { roles: [requester] }
    targets: [sandbox]
    logins: [dev]
    maxDuration: 4h
    approvals: { count: 0 }
    requireReason: false
`;

interface World {
  t: TestControlPlane;
  clock: FakeClock;
  /** requester */
  alice: Actor;
  /** requester in group oncall (auto-approved on db-1) */
  carol: Actor;
  /** requester and approver in group approvers */
  erin: Actor;
  /** approvers in group approvers */
  bob: Actor;
  dave: Actor;
  /** approver role, but not in group approvers */
  mallory: Actor;
}

const actor = (u: User): Actor => ({ id: u.id, name: u.name, roles: u.roles, groups: u.groups });

async function setup(kind: StoreKind): Promise<World> {
  const clock = new FakeClock();
  const t = await openControlPlane(kind, clock);
  const { cp } = t;
  const user = async (name: string, roles: string[], groups: string[] = []) => actor(await cp.users.create("admin", { name, roles, groups }));
  const w: World = {
    t,
    clock,
    alice: await user("alice", ["requester"]),
    carol: await user("carol", ["requester"], ["oncall"]),
    erin: await user("erin", ["requester", "approver"], ["approvers"]),
    bob: await user("bob", ["approver"], ["approvers"]),
    dave: await user("dave", ["approver"], ["approvers"]),
    mallory: await user("mallory", ["approver"]),
  };
  await cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "10.0.0.1:22" });
  for (const login of ["root", "deploy", "backup"]) await cp.inventory.addAccount("admin", "web-1", { login, auth: "certificate" });
  await cp.inventory.addTarget("admin", { name: "web-2", kind: "ssh", address: "10.0.0.2:22" });
  await cp.inventory.addAccount("admin", "web-2", { login: "root", auth: "certificate" });
  await cp.inventory.addTarget("admin", { name: "db-1", kind: "postgres", address: "10.0.0.3:5432" });
  await cp.inventory.addAccount("admin", "db-1", { login: "readonly", auth: "password" });
  await cp.inventory.addTarget("admin", { name: "sandbox", kind: "ssh", address: "10.0.0.4:22" });
  await cp.inventory.addAccount("admin", "sandbox", { login: "dev", auth: "key" });
  await cp.policies.apply("admin", parsePolicyFile(POLICIES, "p.yaml"), "p.yaml", false);
  return w;
}

const TABLES = ["requests", "approvals", "grants", "grant_extensions", "audit_events"] as const;
type Counts = Record<(typeof TABLES)[number] | "busEvents", number>;

async function counts(t: TestControlPlane): Promise<Counts> {
  const out = { busEvents: t.events.length } as Counts;
  for (const table of TABLES) {
    const rows = await t.store.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    out[table] = rows[0]?.n ?? -1;
  }
  return out;
}

async function failure(call: () => Promise<unknown>): Promise<ControlError> {
  try {
    await call();
  } catch (err) {
    if (err instanceof ControlError) return err;
    throw err;
  }
  throw new Error("expected a ControlError, but the call succeeded");
}

/** The call fails with this code (and kind), and neither the store nor the bus changed. */
async function refused(w: World, call: () => Promise<unknown>, code: string, kind?: ErrorKind): Promise<ControlError> {
  const before = await counts(w.t);
  const err = await failure(call);
  expect({ code: err.code, kind: kind === undefined ? undefined : err.kind }).toEqual({ code, kind });
  expect(await counts(w.t)).toEqual(before);
  return err;
}

async function auditTypes(t: TestControlPlane, prefix: string): Promise<{ type: string; actor: string; data: Record<string, unknown> }[]> {
  const rows = await t.cp.audit.query({ type: prefix, limit: 1000 });
  return rows.map((r) => ({ type: r.type, actor: r.actor, data: r.data as unknown as Record<string, unknown> }));
}

const ask = (w: World, who: Actor, extra: Partial<{ target: string; login: string; duration: unknown; reason: unknown; startAt: unknown }> = {}) =>
  w.t.cp.requests.create(who, { target: "web-1", login: "root", duration: "30m", reason: "INC-1: disk full on web-1", ...extra });

/** A 2-of-N request for root@web-1, approved by bob and dave. */
async function approvedGrant(w: World, who: Actor = w.alice, extra: Parameters<typeof ask>[2] = {}): Promise<{ request: AccessRequest; grantId: string }> {
  const r = await ask(w, who, extra);
  await w.t.cp.requests.approve(w.bob, r.id);
  const request = await w.t.cp.requests.approve(w.dave, r.id);
  expect(request.state).toBe("approved");
  if (!request.grantId) throw new Error("approved without a grant");
  return { request, grantId: request.grantId };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe.each(STORE_KINDS)("requests on %s", (kind) => {
  // Races between connections need a served PostgreSQL: the embedded engine runs one
  // transaction at a time, so there these cases cannot arise and are not listed.
  const onPostgres = kind === "postgres" ? it : () => undefined;
  let w: World;
  beforeEach(async () => {
    w = await setup(kind);
  });
  afterEach(async () => {
    const verification = await w.t.cp.audit.verify();
    await w.t.close();
    expect(verification.problems).toEqual([]);
  });

  it("needs two distinct approvers from the group, and nobody votes twice or on a decided request", async () => {
    const { cp } = w.t;
    const r = await ask(w, w.alice);
    expect(r).toMatchObject({ state: "pending", approvalsRequired: 2, policy: "web-ops", user: "alice", grantId: null });

    const first = await cp.requests.approve(w.bob, r.id);
    expect(first.state).toBe("pending");
    expect(first.approvals.map((a) => [a.approver, a.decision])).toEqual([["bob", "approve"]]);

    await refused(w, () => cp.requests.approve(w.bob, r.id), "ALREADY_VOTED", "conflict");
    await refused(w, () => cp.requests.deny(w.bob, r.id, "changed my mind"), "ALREADY_VOTED", "conflict");
    expect(await cp.requests.get(w.bob, r.id)).toMatchObject({ state: "pending", approvals: [{ approver: "bob" }] });

    await refused(w, () => cp.requests.approve(w.mallory, r.id), "NOT_AN_APPROVER", "forbidden");
    await refused(w, () => cp.requests.approve(w.alice, r.id), "SELF_APPROVAL", "forbidden");
    expect((await cp.requests.get(w.alice, r.id)).state).toBe("pending");
    expect(await cp.grants.list(w.bob, {})).toEqual([]);

    const done = await cp.requests.approve(w.dave, r.id);
    expect(done).toMatchObject({ state: "approved", decidedBy: "dave", decidedAt: iso(w.clock.now()) });
    expect(done.approvals.map((a) => a.approver)).toEqual(["bob", "dave"]);
    expect(done.grantId).not.toBeNull();
    const grant = await cp.grants.get(w.alice, done.grantId as string);
    expect(grant).toMatchObject({ user: "alice", target: "web-1", login: "root", state: "active", requestId: r.id });
    expect(w.t.events).toEqual([{ type: "grant.scheduled", grantId: grant.id, userId: w.alice.id, userName: "alice", targetName: "web-1", login: "root", notBefore: grant.notBefore, notAfter: grant.notAfter }]);
    expect((await auditTypes(w.t, "request.")).map((e) => [e.type, e.actor])).toEqual([
      ["request.created", "alice"], ["request.approved", "bob"], ["request.approved", "dave"],
    ]);
    expect((await auditTypes(w.t, "grant.")).map((e) => e.type)).toEqual(["grant.created"]);

    await refused(w, () => cp.requests.approve(w.erin, r.id), "REQUEST_DECIDED", "conflict");
    await refused(w, () => cp.requests.deny(w.erin, r.id, "too late"), "REQUEST_DECIDED", "conflict");
    await refused(w, () => cp.requests.approve(w.dave, r.id), "REQUEST_DECIDED", "conflict");
  });

  it("never lets a requester who is also an approver decide their own request", async () => {
    const { cp } = w.t;
    const r = await ask(w, w.erin);
    await refused(w, () => cp.requests.approve(w.erin, r.id), "SELF_APPROVAL", "forbidden");
    await refused(w, () => cp.requests.deny(w.erin, r.id, "no"), "SELF_APPROVAL", "forbidden");
    await cp.requests.approve(w.bob, r.id);
    // With one vote in, the requester's own would complete it: still refused.
    await refused(w, () => cp.requests.approve(w.erin, r.id), "SELF_APPROVAL", "forbidden");
    expect(await cp.requests.get(w.erin, r.id)).toMatchObject({ state: "pending", approvals: [{ approver: "bob" }] });
    const done = await cp.requests.approve(w.dave, r.id);
    expect(done.state).toBe("approved");
    expect(done.approvals.map((a) => a.approver)).toEqual(["bob", "dave"]);
  });

  it("ends a request on one denial, keeping the reason; a denial needs a reason", async () => {
    const { cp } = w.t;
    const r = await ask(w, w.alice);
    await cp.requests.approve(w.bob, r.id);
    const denied = await cp.requests.deny(w.dave, r.id, "  no ticket for this  ");
    expect(denied).toMatchObject({ state: "denied", decidedBy: "dave", decisionReason: "no ticket for this", grantId: null });
    expect(denied.approvals.map((a) => [a.approver, a.decision, a.reason])).toEqual([["bob", "approve", null], ["dave", "deny", "no ticket for this"]]);
    expect(await auditTypes(w.t, "request.denied")).toEqual([
      { type: "request.denied", actor: "dave", data: { requestId: r.id, approverName: "dave", reason: "no ticket for this" } },
    ]);
    await refused(w, () => cp.requests.approve(w.erin, r.id), "REQUEST_DECIDED", "conflict");
    await refused(w, () => cp.requests.deny(w.erin, r.id, "me too"), "REQUEST_DECIDED", "conflict");
    expect(await counts(w.t)).toMatchObject({ grants: 0, busEvents: 0 });
    expect((await cp.requests.get(w.alice, r.id)).state).toBe("denied");

    const again = await ask(w, w.alice);
    for (const reason of [undefined, null, "", "   "]) {
      await refused(w, () => cp.requests.deny(w.bob, again.id, reason), "REASON_REQUIRED", "invalid");
    }
    expect((await cp.requests.get(w.alice, again.id)).state).toBe("pending");
  });

  it("expires a request at its TTL: deciding it then is gone, and the sweep marks the rest", async () => {
    const { cp } = w.t;
    const late = await ask(w, w.alice);
    const other = await ask(w, w.carol);
    const third = await ask(w, w.alice, { login: "deploy" });
    expect(Date.parse(late.expiresAt)).toBe(w.clock.now() + HOUR);

    await w.clock.advance(59 * MIN);
    await cp.requests.approve(w.bob, third.id);
    await w.clock.advance(1 * MIN);
    // At its TTL to the millisecond, the request can no longer be decided.
    const before = await counts(w.t);
    const err = await failure(() => cp.requests.approve(w.dave, third.id));
    expect([err.code, err.kind]).toEqual(["REQUEST_EXPIRED", "gone"]);
    await w.clock.advance(1000);
    const err2 = await failure(() => cp.requests.approve(w.bob, late.id));
    expect([err2.code, err2.kind]).toEqual(["REQUEST_EXPIRED", "gone"]);
    // Only the two expiries were written: no vote, no grant, no event.
    expect(await counts(w.t)).toEqual({ ...before, audit_events: before.audit_events + 2 });
    expect(await cp.requests.get(w.alice, late.id)).toMatchObject({ state: "expired", decidedBy: "system", grantId: null });
    const stored = await w.t.store.query<{ id: string; state: string }>("SELECT id, state FROM requests ORDER BY created_at, id");
    expect(Object.fromEntries(stored.map((r) => [r.id, r.state]))).toEqual({ [late.id]: "expired", [other.id]: "pending", [third.id]: "expired" });
    // Past its TTL, the unmarked one already reads as expired.
    expect((await cp.requests.get(w.carol, other.id)).state).toBe("expired");
    expect(await cp.requests.list(w.bob, { state: "pending" })).toEqual([]);
    expect((await cp.requests.list(w.bob, { state: "expired" })).map((r) => r.id).sort()).toEqual([late.id, other.id, third.id].sort());

    expect(await cp.requests.expireDue()).toBe(1);
    expect(await cp.requests.expireDue()).toBe(0);
    expect((await auditTypes(w.t, "request.expired")).map((e) => [e.actor, e.data.requestId])).toEqual([
      ["system", third.id], ["system", late.id], ["system", other.id],
    ]);
    const rows = await w.t.store.query<{ state: string; decided_by: string }>("SELECT state, decided_by FROM requests WHERE id = $1", [other.id]);
    expect(rows).toEqual([{ state: "expired", decided_by: "system" }]);
    await refused(w, () => cp.requests.approve(w.bob, other.id), "REQUEST_DECIDED", "conflict");
    // An expired request does not block asking again.
    expect((await ask(w, w.alice)).state).toBe("pending");
  });

  it("starts the grant's clock at approval, or at the requested later start", async () => {
    const { cp } = w.t;
    const t0 = w.clock.now();
    const r = await ask(w, w.alice, { duration: "30m" });
    await w.clock.advance(10 * MIN);
    await cp.requests.approve(w.bob, r.id);
    const done = await cp.requests.approve(w.dave, r.id);
    const grant = await cp.grants.get(w.alice, done.grantId as string);
    expect(grant).toMatchObject({ notBefore: iso(t0 + 10 * MIN), notAfter: iso(t0 + 40 * MIN), state: "active" });
    expect(await cp.grants.findLive("alice", "web-1", "root")).toMatchObject({ grantId: grant.id, notAfter: new Date(t0 + 40 * MIN) });

    const start = t0 + 3 * HOUR;
    const later = await ask(w, w.alice, { login: "deploy", duration: "1h", startAt: iso(start) });
    expect(later.startsAt).toBe(iso(start));
    await cp.requests.approve(w.bob, later.id);
    const scheduled = await cp.requests.approve(w.dave, later.id);
    const g2 = await cp.grants.get(w.alice, scheduled.grantId as string);
    expect(g2).toMatchObject({ state: "scheduled", notBefore: iso(start), notAfter: iso(start + HOUR) });
    expect(w.t.events.at(-1)).toEqual({ type: "grant.scheduled", grantId: g2.id, userId: w.alice.id, userName: "alice", targetName: "web-1", login: "deploy", notBefore: iso(start), notAfter: iso(start + HOUR) });
    expect(await cp.grants.findLive("alice", "web-1", "deploy")).toBeNull();
    await refused(w, () => cp.grants.requireLive("alice", "web-1", "deploy"), "NO_ACTIVE_GRANT", "forbidden");

    await w.clock.advance(start - 1 - w.clock.now());
    expect(await cp.grants.findLive("alice", "web-1", "deploy")).toBeNull();
    await w.clock.advance(1);
    expect(await cp.grants.findLive("alice", "web-1", "deploy")).toMatchObject({ grantId: g2.id, login: "deploy" });
    expect((await cp.grants.get(w.alice, g2.id)).state).toBe("active");
    // The first grant ended long ago.
    expect(await cp.grants.findLive("alice", "web-1", "root")).toBeNull();
    await w.clock.advance(HOUR);
    expect(await cp.grants.findLive("alice", "web-1", "deploy")).toBeNull();
    expect((await cp.grants.get(w.alice, g2.id)).state).toBe("ended");
  });

  it("refuses a start in the past, far away, or not a time", async () => {
    const { cp } = w.t;
    for (const startAt of ["next tuesday", iso(w.clock.now() - HOUR), iso(w.clock.now() + 31 * 24 * HOUR), 12345]) {
      await refused(w, () => ask(w, w.alice, { startAt }), "INVALID_START", "invalid");
    }
    expect(await cp.requests.list(w.bob, {})).toEqual([]);
  });

  it("approves at once under an auto-approve rule or a policy that needs no approvals", async () => {
    const { cp } = w.t;
    const now = w.clock.now();
    const auto = await cp.requests.create(w.carol, { target: "db-1", login: "readonly", duration: "45m" });
    expect(auto).toMatchObject({ state: "approved", decidedBy: "policy:db-read", decidedAt: iso(now), approvalsRequired: 0, approvals: [] });
    const grant = await cp.grants.get(w.carol, auto.grantId as string);
    expect(grant).toMatchObject({ state: "active", notBefore: iso(now), notAfter: iso(now + 45 * MIN), user: "carol", target: "db-1" });
    expect(w.t.events).toEqual([{ type: "grant.scheduled", grantId: grant.id, userId: w.carol.id, userName: "carol", targetName: "db-1", login: "readonly", notBefore: iso(now), notAfter: iso(now + 45 * MIN) }]);
    const created = await auditTypes(w.t, "grant.created");
    expect(created.map((e) => e.data)).toEqual([expect.objectContaining({ grantId: grant.id, autoApproved: true })]);

    // Not on call: the same ask waits for an approver.
    const waits = await cp.requests.create(w.alice, { target: "db-1", login: "readonly", duration: "45m" });
    expect(waits).toMatchObject({ state: "pending", approvalsRequired: 1, grantId: null });
    const approved = await cp.requests.approve(w.bob, waits.id);
    expect(approved.state).toBe("approved");
    expect((await auditTypes(w.t, "grant.created")).map((e) => e.data.autoApproved)).toEqual([true, false]);

    const sandbox = await cp.requests.create(w.alice, { target: "sandbox", login: "dev", duration: "4h" });
    expect(sandbox).toMatchObject({ state: "approved", decidedBy: "policy:sandbox", approvalsRequired: 0 });
    expect(await cp.grants.findLive("alice", "sandbox", "dev")).toMatchObject({ grantId: sandbox.grantId });
  });

  it("refuses a request it cannot grant, and stores nothing", async () => {
    const { cp } = w.t;
    await refused(w, () => ask(w, w.alice, { login: "backup" }), "NO_POLICY", "forbidden");
    await refused(w, () => ask(w, w.mallory), "NO_POLICY", "forbidden");
    const long = await refused(w, () => ask(w, w.alice, { duration: "2h1m" }), "DURATION_EXCEEDS_POLICY", "invalid");
    expect(long.details).toEqual({ maxDurationMs: 2 * HOUR });
    for (const reason of [undefined, "", "   "]) await refused(w, () => ask(w, w.alice, { reason }), "REASON_REQUIRED", "invalid");
    await refused(w, () => ask(w, w.alice, { target: "web-9" }), "TARGET_NOT_FOUND", "not-found");
    await refused(w, () => ask(w, w.alice, { target: "web-2", login: "deploy" }), "ACCOUNT_NOT_FOUND", "not-found");
    for (const duration of ["0m", "-5m", "abc", "", "0ms", "5", "1.5h", 30, undefined]) {
      await refused(w, () => ask(w, w.alice, { duration }), "INVALID_DURATION", "invalid");
    }
    expect(await counts(w.t)).toMatchObject({ requests: 0, approvals: 0, grants: 0 });

    const first = await ask(w, w.alice);
    const dup = await refused(w, () => ask(w, w.alice, { duration: "1h", reason: "other words" }), "DUPLICATE_REQUEST", "conflict");
    expect(dup.message).toContain(first.id);
    expect(await counts(w.t)).toMatchObject({ requests: 1 });
    // Another login, another person, or after a cancel: not a duplicate.
    await ask(w, w.alice, { login: "deploy" });
    await ask(w, w.carol);
    await cp.requests.cancel(w.alice, first.id);
    expect((await ask(w, w.alice)).state).toBe("pending");
  });

  it("extends a grant through a new approval that moves its end", async () => {
    const { cp } = w.t;
    const t0 = w.clock.now();
    const { grantId } = await approvedGrant(w);
    await w.clock.advance(5 * MIN);
    const ext = await cp.requests.extend(w.alice, grantId, { duration: "15m", reason: "the restore needs longer" });
    expect(ext).toMatchObject({ state: "pending", extendsGrantId: grantId, target: "web-1", login: "root", durationMs: 15 * MIN, approvalsRequired: 2 });
    await cp.requests.approve(w.bob, ext.id);
    expect((await cp.grants.get(w.alice, grantId)).notAfter).toBe(iso(t0 + 30 * MIN));
    const done = await cp.requests.approve(w.dave, ext.id);
    expect(done).toMatchObject({ state: "approved", grantId });

    const grant = await cp.grants.get(w.alice, grantId);
    expect(grant).toMatchObject({ notBefore: iso(t0), notAfter: iso(t0 + 45 * MIN), state: "active" });
    expect(await counts(w.t)).toMatchObject({ grants: 1, grant_extensions: 1 });
    const ext1 = await w.t.store.query<{ request_id: string; previous_not_after: Date; new_not_after: Date; at: Date }>(
      "SELECT request_id, previous_not_after, new_not_after, at FROM grant_extensions WHERE grant_id = $1",
      [grantId],
    );
    expect(ext1).toEqual([{ request_id: ext.id, previous_not_after: new Date(t0 + 30 * MIN), new_not_after: new Date(t0 + 45 * MIN), at: new Date(t0 + 5 * MIN) }]);
    expect(await auditTypes(w.t, "grant.extended")).toEqual([
      { type: "grant.extended", actor: "alice", data: { grantId, requestId: ext.id, previousNotAfter: iso(t0 + 30 * MIN), notAfter: iso(t0 + 45 * MIN) } },
    ]);
    expect(w.t.events.at(-1)).toEqual({ type: "grant.scheduled", grantId, userId: w.alice.id, userName: "alice", targetName: "web-1", login: "root", notBefore: iso(t0), notAfter: iso(t0 + 45 * MIN) });
    expect((await cp.grants.findLive("alice", "web-1", "root"))?.notAfter).toEqual(new Date(t0 + 45 * MIN));

    // Only the holder asks; others do not even learn that the grant exists.
    await refused(w, () => cp.requests.extend(w.carol, grantId, { duration: "15m", reason: "mine now" }), "GRANT_NOT_FOUND", "not-found");
    await refused(w, () => cp.requests.extend(w.bob, grantId, { duration: "15m", reason: "for alice" }), "NOT_GRANTEE", "forbidden");
    await refused(w, () => cp.requests.extend(w.alice, "6f1c1f43-7a4e-4d55-9d43-3a4f0c2b8e11", { duration: "15m", reason: "x" }), "GRANT_NOT_FOUND", "not-found");
    await refused(w, () => cp.requests.extend(w.alice, grantId, { duration: "3h", reason: "all day" }), "DURATION_EXCEEDS_POLICY", "invalid");
    await refused(w, () => cp.requests.extend(w.alice, grantId, { duration: "-5m", reason: "x" }), "INVALID_DURATION", "invalid");
  });

  it("refuses to extend a grant that has ended, whether before the ask or before the approval", async () => {
    const { cp } = w.t;
    const { grantId } = await approvedGrant(w);
    const pendingExt = await cp.requests.extend(w.alice, grantId, { duration: "15m", reason: "more" });
    await cp.requests.approve(w.bob, pendingExt.id);
    await cp.grants.revoke(w.bob, grantId, "done");
    const gone = await refused(w, () => cp.requests.approve(w.dave, pendingExt.id), "GRANT_ENDED", "gone");
    expect(gone.message).toContain(grantId);
    expect(await cp.requests.get(w.alice, pendingExt.id)).toMatchObject({ state: "pending", approvals: [{ approver: "bob" }] });
    await cp.requests.cancel(w.alice, pendingExt.id);
    await refused(w, () => cp.requests.extend(w.alice, grantId, { duration: "15m", reason: "more" }), "GRANT_ENDED", "gone");

    // Ended by time, before any sweep marked it.
    const second = await approvedGrant(w, w.alice, { login: "deploy", duration: "30m" });
    await w.clock.advance(30 * MIN);
    await refused(w, () => cp.requests.extend(w.alice, second.grantId, { duration: "15m", reason: "more" }), "GRANT_ENDED", "gone");
    expect(await counts(w.t)).toMatchObject({ grant_extensions: 0 });
  });

  it("revokes: an approver ends any grant, the holder their own, nobody else; never twice", async () => {
    const { cp } = w.t;
    const { grantId } = await approvedGrant(w);
    await refused(w, () => cp.grants.revoke(w.carol, grantId, "not yours"), "GRANT_NOT_FOUND", "not-found");
    expect((await cp.grants.get(w.alice, grantId)).state).toBe("active");

    const now = w.clock.now();
    const revoked = await cp.grants.revoke(w.bob, grantId, "incident closed");
    expect(revoked).toMatchObject({ state: "ended", endReason: "revoked", endedBy: "bob", endNote: "incident closed", endedAt: iso(now) });
    expect(w.t.events.at(-1)).toEqual({
      type: "grant.ended", grantId, userId: w.alice.id, userName: "alice", targetName: "web-1", login: "root",
      reason: "revoked", notAfter: revoked.notAfter, at: iso(now),
    });
    expect(await auditTypes(w.t, "grant.")).toEqual([
      expect.objectContaining({ type: "grant.created" }),
      { type: "grant.revoked", actor: "bob", data: { grantId, by: "bob", reason: "incident closed" } },
      { type: "grant.ended", actor: "bob", data: { grantId, userName: "alice", targetName: "web-1", login: "root", reason: "revoked", notAfter: revoked.notAfter } },
    ]);
    expect(await cp.grants.findLive("alice", "web-1", "root")).toBeNull();
    await refused(w, () => cp.grants.revoke(w.bob, grantId), "GRANT_ENDED", "conflict");
    await refused(w, () => cp.grants.revoke(w.alice, grantId), "GRANT_ENDED", "conflict");

    // The holder may give one up, with no reason given.
    const own = await approvedGrant(w, w.alice, { login: "deploy" });
    const given = await cp.grants.revoke(w.alice, own.grantId);
    expect(given).toMatchObject({ state: "ended", endReason: "revoked", endedBy: "alice", endNote: null });
    const audit = await auditTypes(w.t, "grant.revoked");
    // The audit shape says: reason is null when the revoker gave none.
    expect(audit.at(-1)).toEqual({ type: "grant.revoked", actor: "alice", data: { grantId: own.grantId, by: "alice", reason: null } });
  });

  it("shows a requester only their own requests and grants, and an approver everything", async () => {
    const { cp } = w.t;
    const mine = await approvedGrant(w, w.alice);
    const pendingA = await ask(w, w.alice, { login: "deploy" });
    const carols = await cp.requests.create(w.carol, { target: "db-1", login: "readonly", duration: "10m" });
    const pendingC = await ask(w, w.carol);

    const ids = (xs: { id: string }[]) => xs.map((x) => x.id).sort();
    expect(ids(await cp.requests.list(w.alice, {}))).toEqual([mine.request.id, pendingA.id].sort());
    expect(ids(await cp.requests.list(w.carol, {}))).toEqual([carols.id, pendingC.id].sort());
    expect(ids(await cp.requests.list(w.bob, {}))).toEqual([mine.request.id, pendingA.id, carols.id, pendingC.id].sort());
    expect(ids(await cp.requests.list(w.bob, { state: "pending" }))).toEqual([pendingA.id, pendingC.id].sort());
    expect(ids(await cp.requests.list(w.bob, { mine: true }))).toEqual([]);
    await refused(w, () => cp.requests.get(w.alice, pendingC.id), "REQUEST_NOT_FOUND", "not-found");
    await refused(w, () => cp.requests.cancel(w.alice, pendingC.id), "REQUEST_NOT_FOUND", "not-found");
    expect((await cp.requests.get(w.dave, pendingC.id)).user).toBe("carol");

    expect(ids(await cp.grants.list(w.alice, {}))).toEqual([mine.grantId]);
    expect(ids(await cp.grants.list(w.alice, { user: "carol" }))).toEqual([mine.grantId]);
    expect(ids(await cp.grants.list(w.carol, {}))).toEqual([carols.grantId as string]);
    expect(ids(await cp.grants.list(w.bob, {}))).toEqual([mine.grantId, carols.grantId as string].sort());
    expect(ids(await cp.grants.list(w.bob, { user: "carol" }))).toEqual([carols.grantId as string]);
    await refused(w, () => cp.grants.get(w.alice, carols.grantId as string), "GRANT_NOT_FOUND", "not-found");
  });

  onPostgres("keeps one grant when two approvers complete a request at once", async () => {
    const { cp } = w.t;
    for (let i = 0; i < 10; i++) {
      const r = await ask(w, w.alice, { login: i % 2 === 0 ? "root" : "deploy" });
      const results = await Promise.allSettled([cp.requests.approve(w.bob, r.id), cp.requests.approve(w.dave, r.id)]);
      expect(results.map((x) => x.status)).toEqual(["fulfilled", "fulfilled"]);
      const after = await cp.requests.get(w.alice, r.id);
      expect(after.state).toBe("approved");
      expect(after.approvals.map((a) => a.approver).sort()).toEqual(["bob", "dave"]);
      const grants = await w.t.store.query<{ id: string }>("SELECT id FROM grants WHERE request_id = $1", [r.id]);
      expect(grants).toEqual([{ id: after.grantId }]);
      const audit = await w.t.store.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_events WHERE type = 'request.approved' AND data->>'requestId' = $1",
        [r.id],
      );
      expect(audit[0]?.n).toBe(2);
    }
    expect(await counts(w.t)).toMatchObject({ grants: 10, approvals: 20 });
    expect(w.t.events.filter((e) => e.type === "grant.scheduled")).toHaveLength(10);
  });

  onPostgres("ends a grant once when two approvers revoke it at once", async () => {
    const { cp } = w.t;
    for (let i = 0; i < 6; i++) {
      const { grantId } = await approvedGrant(w, w.alice, { login: i % 2 === 0 ? "root" : "deploy" });
      const results = await Promise.allSettled([cp.grants.revoke(w.bob, grantId, "one"), cp.grants.revoke(w.dave, grantId, "two")]);
      expect(results.some((x) => x.status === "fulfilled")).toBe(true);
      for (const x of results) if (x.status === "rejected") expect((x.reason as ControlError).code).toBe("GRANT_ENDED");
      expect(w.t.events.filter((e) => e.type === "grant.ended" && e.grantId === grantId)).toHaveLength(1);
      const audit = await w.t.store.query<{ type: string }>("SELECT type FROM audit_events WHERE data->>'grantId' = $1 ORDER BY seq", [grantId]);
      expect(audit.map((r) => r.type)).toEqual(["grant.created", "grant.revoked", "grant.ended"]);
    }
  });

  onPostgres("stores one request when the same ask arrives twice at once", async () => {
    const { cp } = w.t;
    for (let i = 0; i < 20; i++) {
      const results = await Promise.allSettled([ask(w, w.alice), ask(w, w.alice)]);
      const ok = results.filter((x): x is PromiseFulfilledResult<AccessRequest> => x.status === "fulfilled");
      const failed = results.filter((x): x is PromiseRejectedResult => x.status === "rejected");
      expect(ok).toHaveLength(1);
      expect(failed.map((x) => (x.reason as ControlError).code)).toEqual(["DUPLICATE_REQUEST"]);
      const pending = await cp.requests.list(w.alice, { state: "pending" });
      expect(pending.map((r) => r.id)).toEqual([ok[0]?.value.id]);
      await cp.requests.cancel(w.alice, ok[0]?.value.id as string);
    }
    expect(await counts(w.t)).toMatchObject({ requests: 20 });
  });
});
