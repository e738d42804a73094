// Ends grants at their notAfter. One timer is armed for the earliest deadline over a heap
// of every open grant. When it fires, `grant.ended` is published at once for each grant
// due, and the store is brought up to date afterwards in small batches: recording an end
// costs far more than announcing it, and a session must not outlive its grant while the
// record is written. The fact announced cannot be rolled back (the time has passed); an
// extension committed in that same instant loses, which cuts a session rather than
// keeping one open too long.
// On start it reloads every open grant (those already past end at once), and a periodic
// sweep re-reads the store in case an event from another node was missed.
import type { GrantEndedEvent } from "./bus-events.js";
import { inTransaction, iso, type ControlDeps } from "./context.js";
import { endGrants } from "./grant-end.js";
import { MinHeap } from "./min-heap.js";

export interface ExpiryClockOptions {
  sweepIntervalMs: number;
  /** Called after a sweep so other periodic duties (request TTLs) share its cadence. */
  onSweep?: () => Promise<unknown>;
}

interface Entry {
  at: number;
  grantId: string;
}

interface Tracked {
  notAfter: number;
  userId: string;
  userName: string;
  targetName: string;
  login: string;
}

export interface TrackedGrant extends Tracked {
  grantId: string;
}

// Each batch holds the event loop (and, embedded, the database engine that shares it) for
// a few milliseconds at most, so the timers of the next deadlines still fire on time.
const PERSIST_BATCH = 200;
const SMALL_BATCH = 25;
const QUIET_GAP_MS = 25;
const MAX_DEFER_MS = 250;

export class ExpiryClock {
  private readonly heap = new MinHeap<Entry>();
  /** The authoritative deadline per open grant; heap entries that disagree are stale. */
  private readonly deadlines = new Map<string, Tracked>();
  /** Grants announced as ended whose end is not yet recorded in the store. */
  private readonly unrecorded = new Map<string, number>();
  private cancelTimer: (() => void) | null = null;
  private armedFor = Infinity;
  private sweepTimer: (() => void) | null = null;
  private running = false;
  private recording: Promise<void> | null = null;
  private sweeping: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly deps: ControlDeps,
    private readonly opts: ExpiryClockOptions,
  ) {}

  async start(): Promise<void> {
    this.running = true;
    const unsubScheduled = this.deps.bus.subscribe("grant.scheduled", (e) =>
      this.track({ grantId: e.grantId, notAfter: Date.parse(e.notAfter), userId: e.userId, userName: e.userName, targetName: e.targetName, login: e.login }),
    );
    const unsubEnded = this.deps.bus.subscribe("grant.ended", (e) => this.deadlines.delete(e.grantId));
    this.unsubscribe = () => {
      unsubScheduled();
      unsubEnded();
    };
    await this.reload();
    this.scheduleSweep();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.cancelTimer?.();
    this.sweepTimer?.();
    this.cancelTimer = this.sweepTimer = null;
    await this.sweeping;
    await this.recording;
  }

  /** Open grants this clock watches. */
  get tracked(): number {
    return this.deadlines.size;
  }

  /** Starts (or moves) the watch on one grant's deadline. */
  track(g: TrackedGrant): void {
    if (!this.running) return;
    const current = this.deadlines.get(g.grantId);
    if (current?.notAfter === g.notAfter) return;
    const { grantId, ...info } = g;
    this.deadlines.set(grantId, info);
    this.heap.push({ at: g.notAfter, grantId });
    this.arm();
  }

  /** Reads every open grant from the store, so a restart or a missed event loses nothing. */
  async reload(): Promise<void> {
    const rows = await this.deps.sql.query<{ id: string; not_after: Date; user_id: string; user_name: string; target_name: string; login: string }>(
      `SELECT g.id, g.not_after, g.user_id, u.name AS user_name, t.name AS target_name, g.login
       FROM grants g JOIN users u ON u.id = g.user_id JOIN targets t ON t.id = g.target_id
       WHERE g.ended_at IS NULL`,
    );
    for (const r of rows) {
      if (this.unrecorded.has(r.id)) continue;
      this.track({ grantId: r.id, notAfter: r.not_after.getTime(), userId: r.user_id, userName: r.user_name, targetName: r.target_name, login: r.login });
    }
  }

  private arm(): void {
    const top = this.heap.peek();
    if (!this.running || !top) return;
    if (top.at >= this.armedFor && this.cancelTimer) return;
    this.cancelTimer?.();
    this.armedFor = top.at;
    this.cancelTimer = this.deps.clock.setTimer(Math.max(0, top.at - this.deps.clock.now()), () => {
      this.cancelTimer = null;
      this.armedFor = Infinity;
      this.fire();
      this.arm();
    });
  }

  /** Announces every grant now due, then leaves the record to the background writer. */
  private fire(): void {
    const now = this.deps.clock.now();
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.at > now) break;
      this.heap.pop();
      const g = this.deadlines.get(top.grantId);
      if (!g || g.notAfter !== top.at) continue;
      this.deadlines.delete(top.grantId);
      this.unrecorded.set(top.grantId, g.notAfter);
      const event: GrantEndedEvent = {
        type: "grant.ended", grantId: top.grantId, userId: g.userId, userName: g.userName, targetName: g.targetName, login: g.login,
        reason: "expired", notAfter: iso(g.notAfter), at: iso(now),
      };
      this.deps.bus.publish(event).catch((err: unknown) => this.deps.logger.error("bus publish failed", { type: event.type, err: String(err) }));
    }
    this.recording ??= this.record().finally(() => {
      this.recording = null;
    });
  }

  private async record(): Promise<void> {
    let lastBatch = this.deps.clock.now();
    while (this.unrecorded.size > 0) {
      // While deadlines come thick and fast, announcing them comes first: a batch that
      // holds the event loop now would make the next announcements late. The record waits,
      // but never longer than MAX_DEFER_MS, so a steady stream of expiries cannot starve it.
      const now = this.deps.clock.now();
      const next = this.heap.peek();
      const gap = next ? next.at - now : Infinity;
      if (gap < QUIET_GAP_MS && now - lastBatch < MAX_DEFER_MS) {
        await new Promise<void>((r) => this.deps.clock.setTimer(Math.max(gap, 0) + 1, r));
        continue;
      }
      lastBatch = now;
      const size = gap < QUIET_GAP_MS ? SMALL_BATCH : PERSIST_BATCH;
      const batch = [...this.unrecorded.keys()].slice(0, size);
      // Only what the store also holds as due: an extension committed meanwhile wins there.
      const dueBy = this.deps.clock.now();
      try {
        // The events went out already; what endGrants would publish again is dropped.
        await inTransaction(this.deps, (tx) => endGrants(this.deps, tx, { ids: batch, dueBy }, "expired", "system", null, () => {}));
      } catch (err) {
        // The store is unreachable: the sessions are cut already, and the sweep records
        // these ends once it can.
        this.deps.logger.error("recording expired grants failed; the sweep will retry", { count: batch.length, err: String(err) });
      }
      // Whatever was not ended (an extension won the race in the store) comes back through
      // grant.scheduled or the sweep's reload.
      for (const id of batch) this.unrecorded.delete(id);
      await new Promise((r) => setImmediate(r));
    }
  }

  private scheduleSweep(): void {
    if (!this.running) return;
    this.sweepTimer = this.deps.clock.setTimer(this.opts.sweepIntervalMs, () => {
      this.sweeping = this.sweep().finally(() => {
        this.sweeping = null;
        this.scheduleSweep();
      });
    });
  }

  /** The safety net: ends anything the store says is due, and picks up grants we missed. */
  async sweep(): Promise<void> {
    try {
      await this.recording;
      const now = this.deps.clock.now();
      const due = await this.deps.sql.query<{ id: string }>("SELECT id FROM grants WHERE ended_at IS NULL AND not_after <= $1 LIMIT 10000", [new Date(now)]);
      if (due.length > 0) {
        const ids = due.map((r) => r.id).filter((id) => !this.unrecorded.has(id));
        await inTransaction(this.deps, (tx, emit) => endGrants(this.deps, tx, { ids, dueBy: now }, "expired", "system", null, emit));
      }
      await this.reload();
      await this.opts.onSweep?.();
    } catch (err) {
      this.deps.logger.error("expiry sweep failed", { err: String(err) });
    }
  }
}
