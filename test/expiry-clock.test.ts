// The expiry clock on the real system clock: grants end at their notAfter, extensions move
// the deadline, a restart loses nothing, the sweep catches what the bus missed, and a burst
// of deadlines all end on time. On both stores.
import { afterEach, describe, expect, it } from "vitest";
import {
  ExpiryClock, parsePolicyFile, systemClock, type Actor, type ControlPlane, type GrantEndedEvent, type SqlClient, type SqlRow, type User,
} from "../policies/index.js";
import { MinHeap } from "../policies/min-heap.js";
import type { MemoryBus } from "../gateway/bus/memory-bus.js";
import { STORE_KINDS, controlPlaneOn, openControlPlane, type StoreKind, type TestControlPlane } from "./support/control-plane.js";
import { FakeClock } from "./support/fake-clock.js";

/**
 * How late after notAfter a grant may be heard to end. The design's "instant" is about
 * what a person notices; the clock itself must do far better than that.
 */
const LATE_MS = 50;
/**
 * The same for a burst of 500 deadlines in 200 ms. Each batch transaction shares this 2-core
 * machine with the other test workers, and a grant due while one runs waits for the next:
 * under that load the worst case was seen near 50 ms. 100 ms is still below what a person
 * would call anything but instant, which is the bar the design sets.
 */
const BURST_LATE_MS = 100;

const POLICIES = `
policies:
  - name: short
    subjects: { roles: [requester] }
    targets: [web-1]
    logins: [root]
    maxDuration: 1h
    approvals: { count: 1, from: { groups: [approvers] } }
    requireReason: false
  - name: bulk
    subjects: { roles: [requester] }
    targets: [bulk]
    logins: [root]
    maxDuration: 1h
    approvals: { count: 0 }
    requireReason: false
`;

const actor = (u: User): Actor => ({ id: u.id, name: u.name, roles: u.roles, groups: u.groups });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
const iso = (ms: number) => new Date(ms).toISOString();

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1);
  }
}

interface People {
  alice: Actor;
  bob: Actor;
}

/** Users, targets and policies, written once to the store every control plane below shares. */
async function seed(cp: ControlPlane): Promise<People> {
  const alice = actor(await cp.users.create("admin", { name: "alice", roles: ["requester"] }));
  const bob = actor(await cp.users.create("admin", { name: "bob", roles: ["approver"], groups: ["approvers"] }));
  await cp.inventory.addTarget("admin", { name: "web-1", kind: "ssh", address: "10.0.0.1:22" });
  await cp.inventory.addAccount("admin", "web-1", { login: "root", auth: "certificate" });
  await cp.inventory.addTarget("admin", { name: "bulk", kind: "ssh", address: "10.0.0.2:22" });
  await cp.inventory.addAccount("admin", "bulk", { login: "root", auth: "certificate" });
  await cp.policies.apply("admin", parsePolicyFile(POLICIES, "p.yaml"), "p.yaml", false);
  return { alice, bob };
}

interface Issued {
  id: string;
  notAfter: number;
}

/** A grant through the ordinary path: alice asks, bob approves. */
async function issue(cp: ControlPlane, p: People, duration: string): Promise<Issued> {
  const r = await cp.requests.create(p.alice, { target: "web-1", login: "root", duration });
  const done = await cp.requests.approve(p.bob, r.id);
  if (!done.grantId) throw new Error(`request ${r.id} was not granted`);
  const g = await cp.grants.get(p.bob, done.grantId);
  return { id: g.id, notAfter: Date.parse(g.notAfter) };
}

interface Heard {
  event: GrantEndedEvent;
  /** Date.now() when the subscriber heard it. */
  at: number;
}

/** Everything a bus says about ended grants, with the instant it was heard. */
function listen(bus: MemoryBus) {
  const heard: Heard[] = [];
  bus.subscribe("grant.ended", (event) => heard.push({ event, at: Date.now() }));
  return {
    heard,
    of: (grantId: string) => heard.filter((h) => h.event.grantId === grantId),
    waitFor: (grantId: string, timeoutMs: number) => until(() => heard.find((h) => h.event.grantId === grantId), timeoutMs, `grant ${grantId} to end`),
  };
}

async function grantRow(sql: SqlClient, id: string) {
  const rows = await sql.query<{ ended_at: Date | null; end_reason: string | null; ended_by: string | null; not_after: Date }>(
    "SELECT ended_at, end_reason, ended_by, not_after FROM grants WHERE id = $1",
    [id],
  );
  return rows[0];
}

function expectOnTime(h: Heard, notAfter: number) {
  const lateness = h.at - notAfter;
  expect(lateness, `heard ${lateness} ms after notAfter`).toBeGreaterThanOrEqual(0);
  expect(lateness, `heard ${lateness} ms after notAfter`).toBeLessThanOrEqual(LATE_MS);
  expect(Date.parse(h.event.at)).toBeGreaterThanOrEqual(notAfter);
}

describe.each(STORE_KINDS)("expiry clock on %s", (kind: StoreKind) => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function open(opts: { sweepIntervalMs?: number } = {}): Promise<{ t: TestControlPlane; p: People }> {
    const t = await openControlPlane(kind, systemClock, opts);
    closers.push(() => t.close());
    return { t, p: await seed(t.cp) };
  }

  it("ends a grant at its notAfter: event, row and audit", async () => {
    const { t, p } = await open();
    const ends = listen(t.bus);
    await t.cp.expiry.start();
    const g = await issue(t.cp, p, "300ms");
    expect(t.cp.expiry.tracked).toBe(1);
    const h = await ends.waitFor(g.id, 3000);
    expectOnTime(h, g.notAfter);
    expect(h.event).toMatchObject({ type: "grant.ended", grantId: g.id, reason: "expired", userName: "alice", targetName: "web-1", login: "root", notAfter: iso(g.notAfter) });

    // The end is announced first and recorded right after, so a session is never kept
    // waiting on the store.
    let row = await grantRow(t.store, g.id);
    for (let i = 0; i < 100 && !row?.ended_at; i++) {
      await sleep(10);
      row = await grantRow(t.store, g.id);
    }
    expect(row?.end_reason).toBe("expired");
    expect(row?.ended_by).toBe("system");
    expect(row?.ended_at?.getTime()).toBeGreaterThanOrEqual(Date.parse(h.event.at));
    expect(row?.ended_at?.getTime()).toBeLessThan(Date.parse(h.event.at) + 1000);
    const audit = await t.cp.audit.query({ type: "grant.ended" });
    expect(audit.map((r) => [r.actor, r.data])).toEqual([
      ["system", { grantId: g.id, userName: "alice", targetName: "web-1", login: "root", reason: "expired", notAfter: iso(g.notAfter) }],
    ]);
    expect(await t.cp.grants.findLive("alice", "web-1", "root")).toBeNull();
    expect(t.cp.expiry.tracked).toBe(0);
    await sleep(50);
    expect(ends.heard).toHaveLength(1);
  });

  it("moves the deadline when an extension is approved before the end", async () => {
    const { t, p } = await open();
    const ends = listen(t.bus);
    await t.cp.expiry.start();
    const g = await issue(t.cp, p, "600ms");
    const ext = await t.cp.requests.extend(p.alice, g.id, { duration: "600ms" });
    const approved = await t.cp.requests.approve(p.bob, ext.id);
    expect(approved.state).toBe("approved");
    expect(Date.now()).toBeLessThan(g.notAfter);
    const newEnd = g.notAfter + 600;
    expect(Date.parse((await t.cp.grants.get(p.bob, g.id)).notAfter)).toBe(newEnd);

    await sleep(g.notAfter + 100 - Date.now());
    expect(ends.heard).toEqual([]);
    expect((await grantRow(t.store, g.id))?.ended_at).toBeNull();
    expect(await t.cp.grants.findLive("alice", "web-1", "root")).toMatchObject({ grantId: g.id });

    const h = await ends.waitFor(g.id, 3000);
    expectOnTime(h, newEnd);
    expect(h.event.notAfter).toBe(iso(newEnd));
    await sleep(50);
    expect(ends.heard).toHaveLength(1);
  });

  it("picks up where it left off after a restart", async () => {
    const { t, p } = await open();
    const first = listen(t.bus);
    await t.cp.expiry.start();
    const open1 = await issue(t.cp, p, "1500ms");
    const lapsed = await issue(t.cp, p, "300ms");
    await t.cp.expiry.stop();

    // Down while one deadline passes.
    await sleep(lapsed.notAfter + 200 - Date.now());
    expect((await grantRow(t.store, lapsed.id))?.ended_at).toBeNull();
    expect(first.heard).toEqual([]);

    const again = controlPlaneOn(t.store, systemClock);
    closers.push(() => again.close());
    const second = listen(again.bus);
    const startedAt = Date.now();
    await again.cp.expiry.start();
    const late = await second.waitFor(lapsed.id, 1000);
    expect(late.at - startedAt, "a grant that lapsed while down ends at once on start").toBeLessThanOrEqual(200);
    expect(late.event.reason).toBe("expired");

    expect(Date.now()).toBeLessThan(open1.notAfter);
    const onTime = await second.waitFor(open1.id, 3000);
    expectOnTime(onTime, open1.notAfter);
    await sleep(50);
    expect(second.heard.map((h) => h.event.grantId).sort()).toEqual([open1.id, lapsed.id].sort());
    expect(first.heard).toEqual([]);
  });

  it("ends, through the sweep, grants it never heard about", async () => {
    const SWEEP = 200;
    const { t, p } = await open({ sweepIntervalMs: SWEEP });
    const watcher = listen(t.bus);
    await t.cp.expiry.start();
    // Another node on the same store, whose bus this one does not hear, and whose clock is off.
    const other = controlPlaneOn(t.store, systemClock);
    closers.push(() => other.close());
    const unheard = listen(other.bus);

    // Long enough for a sweep to find it before it ends: its own timer then ends it on time.
    const found = await issue(other.cp, p, "1s");
    // Over before any sweep can have found it: the sweep ends it once it looks.
    const missed = await issue(other.cp, p, "20ms");
    expect(other.events.filter((e) => e.type === "grant.scheduled")).toHaveLength(2);

    const m = await watcher.waitFor(missed.id, 3000);
    expect(m.at - missed.notAfter, "ended by the next sweep").toBeLessThanOrEqual(SWEEP + LATE_MS);
    expect(m.event.reason).toBe("expired");
    const f = await watcher.waitFor(found.id, 3000);
    expectOnTime(f, found.notAfter);
    await sleep(SWEEP + 50);
    // Exactly once each, by the node that was watching.
    expect(watcher.heard.map((h) => h.event.grantId).sort()).toEqual([found.id, missed.id].sort());
    expect(unheard.heard).toEqual([]);
    expect(await t.cp.audit.query({ type: "grant.ended" })).toHaveLength(2);
  });

  it("ends 500 grants due within 200 ms, each on time", async () => {
    const N = 500;
    const SPREAD = 200;
    const { t, p } = await open();
    const ends = listen(t.bus);
    await t.cp.expiry.start();
    const ask = (duration: string, startAt?: string) => t.cp.requests.create(p.alice, { target: "bulk", login: "root", duration, startAt });

    // Pin every deadline with a common later start; how much later depends on how fast this
    // machine issues grants, so measure that first (these grants outlast the test).
    const warm = Date.now();
    for (let i = 0; i < 20; i++) await ask("1h");
    const perGrant = (Date.now() - warm) / 20;
    const start = Date.now() + Math.ceil(perGrant * N * 2) + 500;
    const grants: Issued[] = [];
    for (let i = 0; i < N; i++) {
      const r = await ask(`${1 + Math.floor((i * SPREAD) / N)}ms`, iso(start));
      expect(r.state).toBe("approved");
      grants.push({ id: r.grantId as string, notAfter: start + Number(r.durationMs) });
    }
    const stored = await t.store.query<{ n: number; lo: Date; hi: Date }>(
      "SELECT count(*)::int AS n, min(not_after) AS lo, max(not_after) AS hi FROM grants WHERE not_before = $1",
      [new Date(start)],
    );
    expect(stored[0]).toEqual({ n: N, lo: new Date(start + 1), hi: new Date(start + SPREAD) });
    expect(Date.now(), "issuing took longer than planned").toBeLessThan(start);
    expect(t.cp.expiry.tracked).toBe(N + 20);

    await until(() => (ends.heard.length >= N ? true : undefined), start + SPREAD + 5000 - Date.now(), `${N} grants to end`);
    await sleep(50);
    expect(ends.heard).toHaveLength(N);
    const byId = new Map(ends.heard.map((h) => [h.event.grantId, h]));
    const lateness = grants.map((g) => (byId.get(g.id)?.at ?? Infinity) - g.notAfter);
    const worst = Math.max(...lateness);
    expect(Math.min(...lateness), "none ends before its notAfter").toBeGreaterThanOrEqual(0);
    expect(worst, `worst lateness ${worst} ms`).toBeLessThanOrEqual(BURST_LATE_MS);
    // The record follows the announcements (deferred while deadlines are dense, by 250 ms
    // at most per batch); every end must be in the store soon after the burst.
    const stillOpen = async () => (await t.store.query<{ n: number }>("SELECT count(*)::int AS n FROM grants WHERE ended_at IS NULL"))[0]?.n;
    for (let i = 0; i < 100 && (await stillOpen()) !== 20; i++) await sleep(50);
    expect(await stillOpen()).toBe(20);
    expect(t.cp.expiry.tracked).toBe(20);
  });
});

describe.each(STORE_KINDS)("expiry clock races on %s", (kind: StoreKind) => {
  it("ends a grant at its new deadline when the extension lands while the old one is being ended", async () => {
    const MIN = 60_000;
    const clock = new FakeClock();
    const t = await openControlPlane(kind, clock);
    let expiry: ExpiryClock | null = null;
    try {
      const p = await seed(t.cp);
      const t0 = clock.now();
      const g = await issue(t.cp, p, "30m");
      const ext = await t.cp.requests.extend(p.alice, g.id, { duration: "15m" });

      // This node's expiry clock keeps its own time, and its transactions wait at a gate:
      // the old deadline's transaction is under way when the extension commits.
      const expiryTime = new FakeClock(t0);
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      let waiting = 0;
      const gated: SqlClient = {
        shared: t.store.shared,
        query: <R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]) => t.store.query<R>(text, params),
        transaction: async <T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> => {
          waiting += 1;
          await gate;
          return t.store.transaction(fn);
        },
      };
      expiry = new ExpiryClock({ ...t.cp.deps, sql: gated, clock: expiryTime }, { sweepIntervalMs: 24 * 60 * MIN });
      await expiry.start();
      expect(expiry.tracked).toBe(1);
      const ends = listen(t.bus);

      await expiryTime.advance(30 * MIN);
      expect(waiting).toBe(1);
      expect((await t.cp.requests.approve(p.bob, ext.id)).state).toBe("approved");
      release();
      await sleep(100);
      // The old deadline was announced when it came (a session under it is cut: the safe
      // side of a race), but the store, where the extension committed, keeps the grant open.
      expect(ends.heard.map((x) => x.event.at)).toEqual([iso(t0 + 30 * MIN)]);
      expect((await grantRow(t.store, g.id))?.ended_at).toBeNull();
      expect(expiry.tracked).toBe(1);
      ends.heard.length = 0;

      await expiryTime.advance(15 * MIN);
      const h = await ends.waitFor(g.id, 2000);
      expect(h.event).toMatchObject({ reason: "expired", notAfter: iso(t0 + 45 * MIN), at: iso(t0 + 45 * MIN) });
      expect((await grantRow(t.store, g.id))?.ended_at).toEqual(new Date(t0 + 45 * MIN));
    } finally {
      await expiry?.stop();
      await t.close();
    }
  });
});

describe("MinHeap", () => {
  it("pops random pushes in order, interleaved and with ties", () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 50; round++) {
      const heap = new MinHeap<{ at: number; n: number }>();
      const mirror: number[] = [];
      const popped: number[] = [];
      const ops = 1 + Math.floor(random() * 400);
      for (let i = 0; i < ops; i++) {
        if (random() < 0.65 || heap.size === 0) {
          const at = Math.floor(random() * (round % 2 === 0 ? 20 : 1e6));
          heap.push({ at, n: i });
          mirror.push(at);
        } else {
          const min = Math.min(...mirror);
          expect(heap.peek()?.at).toBe(min);
          const top = heap.pop();
          expect(top?.at).toBe(min);
          mirror.splice(mirror.indexOf(min), 1);
        }
        expect(heap.size).toBe(mirror.length);
      }
      for (let top = heap.pop(); top !== undefined; top = heap.pop()) popped.push(top.at);
      expect(popped).toEqual([...mirror].sort((a, b) => a - b));
      expect(heap.size).toBe(0);
      expect(heap.peek()).toBeUndefined();
      expect(heap.pop()).toBeUndefined();
    }
  });
});
