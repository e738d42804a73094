// What terminal rendering produces and consumes: keyframes for seeking, lines of text for
// search, and one pty channel's events for export and replay.

/**
 * A screen at a point of the output stream. `screen` is @xterm/addon-serialize output:
 * written into a fresh terminal of cols×rows it redraws the screen as of stream byte `offset`.
 */
export interface Keyframe {
  ts: number;
  offset: number;
  cols: number;
  rows: number;
  screen: string;
}

/**
 * One line of plain text (no escape sequences, valid UTF-8, trimmed, never empty).
 * `typed`: what the person typed, as a line ended by Enter or Ctrl-C; `offset` is the input
 * stream offset of that key. `shown`: a line that appeared on screen; `offset` is an output
 * stream offset where it was visible or about to become visible.
 */
export interface TextHit {
  ts: number;
  offset: number;
  source: "typed" | "shown";
  text: string;
}

export interface TerminalIndexerOptions {
  cols: number;
  rows: number;
  /** Default 5000. */
  keyframeIntervalMs?: number;
  /** Default 256 KiB. */
  keyframeIntervalBytes?: number;
  /**
   * Output bytes queued for parsing beyond which further output is skipped (and reported as
   * `output_dropped`). Default 16 MiB. Callers that can apply backpressure watch `backlogBytes`.
   */
  maxBacklogBytes?: number;
}

/**
 * What a recording holds for one pty channel: the indexer in this thread, or its stand-in for
 * one running on the rendering thread. Every call returns at once and never throws.
 */
export interface Indexer {
  output(ts: number, offset: number, data: Uint8Array): void;
  input(ts: number, offset: number, data: Uint8Array): void;
  resize(ts: number, cols: number, rows: number): void;
  /** The screen as of every byte given so far. */
  snapshot(): Promise<Keyframe>;
  /** Resolves once everything given is rendered and its keyframes and lines can be taken. */
  finish(ts: number): Promise<void>;
  /** The keyframes and lines made since the last call. */
  take(): { keyframes: Keyframe[]; text: TextHit[] };
  /** The first fault since the last call, or null. */
  takeError(): Error | null;
  dispose(): void;
}

export interface TerminalEvent {
  ts: number;
  kind: "output" | "input" | "resize";
  data?: Uint8Array;
  cols?: number;
  rows?: number;
}
