// Replay timing for a terminal channel: the output as it came, each frame after the delay
// that preceded it, idle gaps cut to a cap and everything divided by the speed. The first
// event only sets the clock, so a caller resuming mid-recording can lead with the last event
// it already played (an empty output) and keep the delay before the next one.
import { TerminalError } from "./errors.js";
import type { TerminalEvent } from "./model.js";
import { clampCols, clampRows } from "./xterm.js";

export type ReplayFrame = { delayMs: number; data: Uint8Array } | { delayMs: number; resize: { cols: number; rows: number } };

export interface ReplayOptions {
  /** 1 plays in real time, 2 twice as fast; must be above 0. */
  speed: number;
  /** Longer pauses play as this many milliseconds (before the speed applies); Infinity keeps them. */
  idleCapMs: number;
}

export function replayFrames(events: Iterable<TerminalEvent>, opts: ReplayOptions): Iterable<ReplayFrame> {
  const { speed, idleCapMs } = opts;
  if (typeof speed !== "number" || !(speed > 0)) {
    throw new TerminalError("replay_options_invalid", `replay speed must be a number above 0 (got ${String(speed)}): use 1 for real time, 2 for twice as fast`);
  }
  if (typeof idleCapMs !== "number" || Number.isNaN(idleCapMs) || idleCapMs < 0) {
    throw new TerminalError("replay_options_invalid", `idle cap must be 0 or more milliseconds (got ${String(idleCapMs)}): use Infinity to keep every pause`);
  }
  return frames(events, speed, idleCapMs);
}

function* frames(events: Iterable<TerminalEvent>, speed: number, idleCapMs: number): Generator<ReplayFrame> {
  let clock: number | null = null;
  let cols = 80;
  let rows = 24;
  const delay = (ts: number): number => {
    const gap = clock === null || !Number.isFinite(ts) ? 0 : Math.max(0, ts - clock);
    if (Number.isFinite(ts)) clock = ts;
    return Math.min(gap, idleCapMs) / speed;
  };
  for (const event of events) {
    if (clock === null) {
      if (Number.isFinite(event.ts)) clock = event.ts;
    }
    if (event.kind === "output" && event.data instanceof Uint8Array && event.data.length > 0) {
      yield { delayMs: delay(event.ts), data: event.data };
    } else if (event.kind === "resize") {
      cols = clampCols(event.cols, cols);
      rows = clampRows(event.rows, rows);
      yield { delayMs: delay(event.ts), resize: { cols, rows } };
    }
  }
}
