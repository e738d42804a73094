// Ends grants at their notAfter. One timer is armed for the earliest deadline; when it
// fires, every grant due by then ends in one transaction and the bus tells the engines.
// On start it reloads every open grant (those already past end at once), and a periodic
// sweep re-reads the store in case an event from another node was missed.
import type { GrantEndedEvent } from "./bus-events.js";
import { inTransaction, type ControlDeps } from "./context.js";
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

const BATCH = 2000;

export class ExpiryClock {
  private readonly heap = new MinHeap<Entry>();
  /** The authoritative deadline per open grant; heap entries that disagree are stale. */
  private readonly deadlines = new Map<string, number>();
  private cancelTimer: (() => void) | null = null;
  private armedFor = Infinity;
  private sweepTimer: (() => void) | null = null;
  private running = false;
  private firing: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Lateness (ms past notAfter) of each ended grant, for the benchmark; off unless set. */
  onEnded: ((events: GrantEndedEvent[], firedAt: number) => void) | null = null;

  constructor(
    private readonly deps: ControlDeps,
    private readonly opts: ExpiryClockOptions,
  ) {}

  async start(): Promise<void> {
    this.running = true;
    this.unsubscribe = this.deps.bus.subscribe("grant.scheduled", (e) => this.track(e.grantId, Date.parse(e.notAfter)));
    const unsubEnded = this.deps.bus.subscribe("grant.ended", (e) => this.deadlines.delete(e.grantId));
    const unsubScheduled = this.unsubscribe;
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
    await this.firing;
  }

  get tracked(): number {
    return this.deadlines.size;
  }

  /** Starts (or moves) the watch on one grant's deadline. */
  track(grantId: string, notAfter: number): void {
    if (!this.running || this.deadlines.get(grantId) === notAfter) return;
    this.deadlines.set(grantId, notAfter);
    this.heap.push({ at: notAfter, grantId });
    this.arm();
  }

  /** Reads every open grant from the store, so a restart or a missed event loses nothing. */
  async reload(): Promise<void> {
    const rows = await this.deps.sql.query<{ id: string; not_after: Date }>("SELECT id, not_after FROM grants WHERE ended_at IS NULL");
    for (const r of rows) this.track(r.id, r.not_after.getTime());
  }

  private arm(): void {
    const top = this.heap.peek();
    if (!this.running || !top || this.firing) return;
    if (top.at >= this.armedFor && this.cancelTimer) return;
    this.cancelTimer?.();
    this.armedFor = top.at;
    this.cancelTimer = this.deps.clock.setTimer(Math.max(0, top.at - this.deps.clock.now()), () => {
      this.cancelTimer = null;
      this.armedFor = Infinity;
      this.firing = this.fire().finally(() => {
        this.firing = null;
        this.arm();
      });
    });
  }

  private async fire(): Promise<void> {
    for (;;) {
      const now = this.deps.clock.now();
      const due: string[] = [];
      while (due.length < BATCH) {
        const top = this.heap.peek();
        if (!top || top.at > now) break;
        this.heap.pop();
        if (this.deadlines.get(top.grantId) === top.at) due.push(top.grantId);
      }
      if (due.length === 0) return;
      try {
        const ended = await inTransaction(this.deps, (tx, emit) => endGrants(this.deps, tx, { ids: due, dueBy: now }, "expired", "system", null, emit));
        this.onEnded?.(ended, this.deps.clock.now());
        // A deadline moved past now meanwhile (an extension heard during the transaction) stays.
        for (const id of due) if ((this.deadlines.get(id) ?? now) <= now) this.deadlines.delete(id);
      } catch (err) {
        // The store is unreachable: forget these deadlines so the sweep's reload re-tracks
        // them, and let it try again at its own pace rather than spinning here.
        for (const id of due) if ((this.deadlines.get(id) ?? now) <= now) this.deadlines.delete(id);
        this.deps.logger.error("ending expired grants failed; the sweep will retry", { count: due.length, err: String(err) });
        return;
      }
    }
  }

  private scheduleSweep(): void {
    if (!this.running) return;
    this.sweepTimer = this.deps.clock.setTimer(this.opts.sweepIntervalMs, () => {
      void this.sweep().finally(() => this.scheduleSweep());
    });
  }

  /** The safety net: ends anything the store says is due, and picks up grants we missed. */
  async sweep(): Promise<void> {
    try {
      await this.reload();
      const now = this.deps.clock.now();
      const due = await this.deps.sql.query<{ id: string }>("SELECT id FROM grants WHERE ended_at IS NULL AND not_after <= $1 LIMIT 10000", [new Date(now)]);
      if (due.length > 0) {
        const ids = due.map((r) => r.id);
        await inTransaction(this.deps, (tx, emit) => endGrants(this.deps, tx, { ids, dueBy: now }, "expired", "system", null, emit));
        for (const id of ids) if ((this.deadlines.get(id) ?? now) <= now) this.deadlines.delete(id);
      }
      this.arm();
      await this.opts.onSweep?.();
    } catch (err) {
      this.deps.logger.error("expiry sweep failed", { err: String(err) });
    }
  }
}
