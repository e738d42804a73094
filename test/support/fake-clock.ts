// A clock that moves only when a test says so; timers fire in deadline order on advance().
import type { Clock } from "../../policies/index.js";

export class FakeClock implements Clock {
  private timers: { due: number; fn: () => void; id: number }[] = [];
  private nextId = 0;

  constructor(private t = Date.parse("2027-01-04T10:00:00Z")) {}

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ due: this.t + Math.max(0, ms), fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }

  /** Moves time forward, firing each due timer at its own instant. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.due - b.due || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.due > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.due);
      next.fn();
      // Let the work the timer started (database round trips) run before the next one.
      await new Promise((r) => setTimeout(r, 20));
    }
    this.t = end;
  }
}
