// One pty channel rendered on a headless terminal: keyframes of its screen for seeking, and
// the text shown and typed on it for search. Calls return at once; the bytes are parsed in a
// queue of jobs worked through in slices of a few milliseconds, so a burst of output never
// holds up the process. Snapshots, resizes and typed lines are jobs in the same queue, which
// makes every screen read exact about the byte it reflects: a job sees the screen after all
// output given before it was queued, and none given after.
import { TerminalError, type TerminalErrorCode } from "./errors.js";
import { SlicedQueue } from "./job-queue.js";
import type { Indexer, Keyframe, TerminalIndexerOptions, TextHit } from "./model.js";
import { ShownLines } from "./shown-lines.js";
import { StreamEnd } from "./stream-end.js";
import { TypedLineReader } from "./typed-lines.js";
import { clampCols, clampRows, createScreen, type Screen } from "./xterm.js";

const DEFAULT_KEYFRAME_MS = 5000;
const DEFAULT_KEYFRAME_BYTES = 256 * 1024;
const DEFAULT_MAX_BACKLOG = 16 * 1024 * 1024;
/** Lines are read off the scroll event as they leave the screen: one line above it is enough. */
const SCROLLBACK = 8;
/**
 * Output is parsed in pieces no larger than this, so the loop gives way in time even to a
 * write that is all costly sequences (4 KiB of scroll-region scrolls is some 50 ms of work).
 */
const SLICE_BYTES = 4 * 1024;
/** Work per turn of the event loop before giving way to I/O. */
const TURN_MS = 8;
/** Output resuming after this long means the screen sat still meanwhile: worth reading. */
const SETTLE_MS = 1000;
/** Keyframes and lines kept for take(); beyond this the oldest unclaimed ones are let go. */
const MAX_UNTAKEN = 100_000;
/** The line the cursor is on when a line is typed: a prompt for something not to index. */
const SECRET_PROMPT = /(pass(word|phrase|code)|\bpin\b|verification code|one-time|\botp\b|token|secret)[^:]{0,80}:$/i;
const CAN = Uint8Array.of(0x18);

type Job =
  | { kind: "output"; ts: number; start: number; data: Uint8Array }
  | { kind: "resize"; ts: number; cols: number; rows: number }
  | { kind: "typed"; ts: number; offset: number; text: string }
  | { kind: "snapshot"; ts: number; offset: number; resolve: (k: Keyframe) => void; reject: (e: Error) => void }
  | { kind: "finish"; ts: number; resolve: () => void };

const positive = (value: number | undefined, fallback: number): number =>
  typeof value === "number" && value > 0 && !Number.isNaN(value) ? value : fallback;

export class TerminalIndexer implements Indexer {
  private readonly screen: Screen;
  private readonly shown: ShownLines;
  private readonly typed = new TypedLineReader();
  private readonly keyframeMs: number;
  private readonly keyframeBytes: number;
  private readonly maxBacklog: number;

  private readonly queue = new SlicedQueue<Job>((job) => this.runJob(job), TURN_MS);
  private disposed = false;

  // Counted as calls arrive.
  private readonly outputEnd = new StreamEnd();
  private readonly inputEnd = new StreamEnd();
  private lastTs = 0;
  private lastOutputTs = 0;
  private cols: number;
  private rows: number;
  private backlog = 0;

  // Advanced as jobs run.
  private parsedTs: number | null = null;
  private parsedOffset = 0;
  private lastKeyframe: { ts: number; offset: number } | null = null;
  private resized = false;
  /** Where the screen was last read, and whether the cursor's line was read too. */
  private readAt = -1;
  private readFull = false;

  private keyframes: Keyframe[] = [];
  private hits: TextHit[] = [];
  private error: TerminalError | null = null;

  constructor(opts: TerminalIndexerOptions) {
    this.cols = clampCols(opts.cols, 80);
    this.rows = clampRows(opts.rows, 24);
    this.keyframeMs = positive(opts.keyframeIntervalMs, DEFAULT_KEYFRAME_MS);
    this.keyframeBytes = positive(opts.keyframeIntervalBytes, DEFAULT_KEYFRAME_BYTES);
    this.maxBacklog = positive(opts.maxBacklogBytes, DEFAULT_MAX_BACKLOG);
    this.screen = createScreen(this.cols, this.rows, SCROLLBACK);
    this.shown = new ShownLines(
      this.screen.term,
      (text, ts, offset) => this.hit({ ts, offset, source: "shown", text }),
      (what, cause) => this.fault("render_fault", `reading shown text failed at ${what}`, cause),
    );
  }

  /** Output bytes queued and not yet parsed: a caller that can slow its source waits while this is high. */
  get backlogBytes(): number {
    return this.backlog;
  }

  /** The first fault since the last call, or null; the caller logs it once. */
  takeError(): TerminalError | null {
    const error = this.error;
    this.error = null;
    return error;
  }

  /** The first fault not yet taken, without taking it. */
  get lastError(): TerminalError | null {
    return this.error;
  }

  /** `owned`: nobody else writes to `data` (the rendering thread's batches), so it is not copied. */
  output(ts: number, offset: number, data: Uint8Array, owned = false): void {
    try {
      if (this.disposed || !(data instanceof Uint8Array)) return;
      ts = this.time(ts);
      this.lastOutputTs = ts;
      const fresh = this.accept("output", this.outputEnd, offset, data);
      if (!fresh) return;
      if (this.backlog + fresh.data.length > this.maxBacklog) {
        this.fault("output_dropped", `output came faster than it could be rendered: ${fresh.data.length} bytes at offset ${fresh.start} skipped (backlog ${this.backlog} bytes)`);
        return;
      }
      this.backlog += fresh.data.length;
      // Copies, so a caller reusing its buffer cannot change bytes still waiting in the queue.
      for (let i = 0; i < fresh.data.length; i += SLICE_BYTES) {
        const piece = fresh.data.length <= SLICE_BYTES ? fresh.data : fresh.data.subarray(i, i + SLICE_BYTES);
        this.queue.push({ kind: "output", ts, start: fresh.start + i, data: owned ? piece : new Uint8Array(piece) });
      }
    } catch (e) {
      this.fault("render_fault", "terminal output could not be queued", e);
    }
  }

  input(ts: number, offset: number, data: Uint8Array): void {
    try {
      if (this.disposed || !(data instanceof Uint8Array)) return;
      ts = this.time(ts);
      const fresh = this.accept("input", this.inputEnd, offset, data);
      if (!fresh) return;
      this.typed.feed(fresh.data, fresh.start, (text, at) => this.queue.push({ kind: "typed", ts, offset: at, text }));
    } catch (e) {
      this.fault("render_fault", "terminal input could not be read", e);
    }
  }

  resize(ts: number, cols: number, rows: number): void {
    try {
      if (this.disposed) return;
      this.cols = clampCols(cols, this.cols);
      this.rows = clampRows(rows, this.rows);
      this.queue.push({ kind: "resize", ts: this.time(ts), cols: this.cols, rows: this.rows });
    } catch (e) {
      this.fault("render_fault", "terminal resize could not be queued", e);
    }
  }

  take(): { keyframes: Keyframe[]; text: TextHit[] } {
    const taken = { keyframes: this.keyframes, text: this.hits };
    this.keyframes = [];
    this.hits = [];
    return taken;
  }

  snapshot(): Promise<Keyframe> {
    return new Promise<Keyframe>((resolve, reject) => {
      if (this.disposed) return reject(new TerminalError("disposed", "the terminal indexer was disposed"));
      this.queue.push({ kind: "snapshot", ts: this.lastOutputTs, offset: this.outputEnd.end, resolve, reject });
    });
  }

  finish(ts: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.disposed) return resolve();
      ts = this.time(ts);
      try {
        this.typed.flush(this.inputEnd.end, (text, at) => this.queue.push({ kind: "typed", ts, offset: at, text }));
      } catch (e) {
        this.fault("render_fault", "terminal input could not be read", e);
      }
      this.queue.push({ kind: "finish", ts, resolve });
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backlog = 0;
    for (const job of this.queue.stop()) {
      if (job.kind === "snapshot") job.reject(new TerminalError("disposed", "the terminal indexer was disposed before the snapshot"));
      else if (job.kind === "finish") job.resolve();
    }
    try {
      this.screen.term.dispose();
    } catch {
      // nothing left to keep consistent
    }
  }

  // ---------------------------------------------------------------- calls

  private time(ts: number): number {
    if (typeof ts === "number" && Number.isFinite(ts)) this.lastTs = ts;
    return this.lastTs;
  }

  private accept(stream: string, end: StreamEnd, offset: number, data: Uint8Array) {
    const before = end.end;
    const fresh = end.accept(offset, data);
    if (fresh && fresh.gap > 0) this.fault("offset_gap", `${stream} offsets jumped from ${before} to ${fresh.start}: ${fresh.gap} bytes were never given`);
    return fresh;
  }

  private fault(code: TerminalErrorCode, message: string, cause?: unknown): void {
    this.error ??= new TerminalError(code, message, cause);
  }

  private hit(hit: TextHit): void {
    if (this.hits.length >= MAX_UNTAKEN) {
      this.fault("text_dropped", `over ${MAX_UNTAKEN} text lines waited for take(): the oldest were let go`);
      this.hits.splice(0, this.hits.length >> 1);
    }
    this.hits.push(hit);
  }

  // ---------------------------------------------------------------- jobs

  private runJob(job: Job): void {
    try {
      switch (job.kind) {
        case "output":
          return this.parse(job);
        case "resize":
          this.readScreen(this.parsedTs ?? job.ts, true);
          this.screen.term.resize(job.cols, job.rows);
          this.resized = true;
          this.readAt = -1;
          return;
        case "typed":
          // Enter is a moment the person read the screen, even on an empty line.
          this.readScreen(job.ts, false);
          if (job.text !== "" && !SECRET_PROMPT.test(this.shown.cursorLine())) this.hit({ ts: job.ts, offset: job.offset, source: "typed", text: job.text });
          return;
        case "snapshot":
          return job.resolve(this.frame(job.ts, job.offset));
        case "finish":
          this.readScreen(this.parsedTs ?? job.ts, false);
          this.shown.flushCarry(this.parsedTs ?? job.ts, this.parsedOffset);
          if (this.lastKeyframe?.offset !== this.parsedOffset || this.resized) this.keyframe(job.ts);
          return job.resolve();
      }
    } catch (e) {
      this.fault("render_fault", `the terminal failed at a ${job.kind}`, e);
      if (job.kind === "snapshot") job.reject(new TerminalError("render_fault", "the screen could not be serialized", e));
      else if (job.kind === "finish") job.resolve();
    }
  }

  private parse(job: Extract<Job, { kind: "output" }>): void {
    this.backlog -= job.data.length;
    if (this.parsedTs !== null && job.ts - this.parsedTs >= SETTLE_MS) this.readScreen(this.parsedTs, true);
    this.shown.parsing.ts = job.ts;
    this.shown.parsing.offset = job.start;
    try {
      this.screen.parse(job.data);
    } catch (e) {
      this.fault("render_fault", `the terminal failed parsing output at offset ${job.start}`, e);
      this.resync();
    }
    this.parsedTs = job.ts;
    this.parsedOffset = job.start + job.data.length;
    const last = this.lastKeyframe;
    if (last === null || this.resized || job.ts - last.ts >= this.keyframeMs || job.ts < last.ts || this.parsedOffset - last.offset >= this.keyframeBytes) {
      this.readScreen(job.ts, true);
      this.keyframe(job.ts);
    }
  }

  /**
   * After a fault the parser may be left inside a sequence, and would swallow the next bytes
   * as its parameters. CAN ends any sequence in progress and is otherwise ignored.
   */
  private resync(): void {
    try {
      this.screen.parse(CAN);
    } catch {
      // nothing more to try: the next output goes to the parser as it is
    }
  }

  private keyframe(ts: number): void {
    if (this.keyframes.length >= MAX_UNTAKEN) {
      this.fault("text_dropped", `over ${MAX_UNTAKEN} keyframes waited for take(): the oldest were let go`);
      this.keyframes.splice(0, this.keyframes.length >> 1);
    }
    this.keyframes.push(this.frame(ts, this.parsedOffset));
    this.lastKeyframe = { ts, offset: this.parsedOffset };
    this.resized = false;
  }

  private frame(ts: number, offset: number): Keyframe {
    const term = this.screen.term;
    return { ts, offset, cols: term.cols, rows: term.rows, screen: this.screen.serialize() };
  }

  /** Indexes the lines on screen unless nothing was parsed since the screen was last read. */
  private readScreen(ts: number, skipCursorLine: boolean): void {
    if (this.readAt === this.parsedOffset && (this.readFull || skipCursorLine)) return;
    this.shown.screen(ts, this.parsedOffset, skipCursorLine);
    this.readAt = this.parsedOffset;
    this.readFull = !skipCursorLine;
  }
}
