// Jobs worked through in order, a few milliseconds per turn of the event loop, so that a long
// queue (a burst of output) never keeps I/O and timers waiting for long.
import { performance } from "node:perf_hooks";

export class SlicedQueue<T> {
  private jobs: (T | undefined)[] = [];
  private head = 0;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly runJob: (job: T) => void,
    private readonly turnMs: number,
  ) {}

  push(job: T): void {
    if (this.stopped) return;
    this.jobs.push(job);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** Stops for good and hands back the jobs that never ran. */
  stop(): T[] {
    this.stopped = true;
    const left = this.jobs.slice(this.head).filter((job): job is T => job !== undefined);
    this.jobs = [];
    this.head = 0;
    return left;
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const deadline = performance.now() + this.turnMs;
    while (this.head < this.jobs.length && !this.stopped) {
      const job = this.jobs[this.head];
      this.jobs[this.head++] = undefined; // let a parsed chunk go at once
      if (job !== undefined) this.runJob(job);
      if (performance.now() >= deadline) break;
    }
    if (this.head >= this.jobs.length) {
      this.jobs = [];
      this.head = 0;
      return;
    }
    if (this.head > 4096) {
      this.jobs = this.jobs.slice(this.head);
      this.head = 0;
    }
    this.scheduled = true;
    setImmediate(this.run);
  };
}
