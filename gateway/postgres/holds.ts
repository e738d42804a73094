// Stops reading a socket while anything holds it back: the first reason to hold pauses it,
// the last release resumes it. Each reason is one bit and holds at most once, so a reason
// that comes up again while it holds adds no second listener or promise; once the relay is
// over, releases no longer resume (the socket's bytes have nowhere to go).
export interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

export class ReadHolds {
  private reasons = 0;
  private stopped = false;

  constructor(private readonly source: Pausable) {}

  /** Holds for `reason` (one bit). True when it did not hold already: the caller then arranges the release. */
  hold(reason: number): boolean {
    if ((this.reasons & reason) !== 0) return false;
    if (this.reasons === 0) this.source.pause();
    this.reasons |= reason;
    return true;
  }

  /** Drops `reason`; the source resumes when no reason holds it any more. */
  release(reason: number): void {
    if ((this.reasons & reason) === 0) return;
    this.reasons &= ~reason;
    if (this.reasons === 0 && !this.stopped) this.source.resume();
  }

  /** The relay is over: nothing resumes the source from now on. */
  stop(): void {
    this.stopped = true;
  }

  /** True while `reason` (or, without one, any reason) holds the source. */
  held(reason = ~0): boolean {
    return (this.reasons & reason) !== 0;
  }
}
