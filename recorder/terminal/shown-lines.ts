// The lines that appeared on a screen, as plain text for search. A line is taken when it
// scrolls off the top of the normal screen (the scroll event fires once per line, while the
// line still sits just above the screen in the short scrollback), and the whole screen is
// read at moments it is worth reading: before a clear, a reset or a switch of screens (caught
// in the middle of parsing), and when the indexer asks: when output pauses, at keyframes, at
// Enter, at the end. Rows wrapped by the terminal are joined back
// into the one line they were. A short memory of recent lines keeps a line that stays on
// screen, or is redrawn, from being indexed again each time the screen is read.
import { lineAt, type Terminal } from "./xterm.js";

/** A line wrapped over more rows than this is given out in pieces that overlap a little. */
const MAX_LINE_CHARS = 4096;
const PIECE_OVERLAP = 64;

export type ShownSink = (text: string, ts: number, offset: number) => void;
export type FaultSink = (what: string, cause: unknown) => void;

/** DEC private modes that switch to or from the alternate screen. */
const ALT_SCREEN_MODES = new Set([47, 1047, 1049]);

export class ShownLines {
  private recent = new Set<string>();
  private older = new Set<string>();
  private readonly buffers: Terminal["buffer"];
  /** Text of a wrapped line whose rows are still scrolling off. */
  private carry: string | null = null;
  /** The output being parsed: lines taken in the middle of parsing are dated by it. */
  readonly parsing = { ts: 0, offset: 0 };

  constructor(
    private readonly term: Terminal,
    private readonly sink: ShownSink,
    private readonly fault: FaultSink,
  ) {
    this.buffers = term.buffer;
    term.onScroll(this.onScroll);
    const wipe = (skipCursorLine: boolean) => {
      try {
        this.screen(this.parsing.ts, this.parsing.offset, skipCursorLine);
      } catch (e) {
        this.fault("a screen change", e);
      }
      return false; // xterm's own handler runs next
    };
    term.parser.registerCsiHandler({ final: "J" }, (params) => wipe(params[0] !== 2 && params[0] !== 3));
    const altSwitch = (params: (number | number[])[]) => params.some((p) => typeof p === "number" && ALT_SCREEN_MODES.has(p)) && wipe(false);
    term.parser.registerCsiHandler({ prefix: "?", final: "h" }, altSwitch);
    term.parser.registerCsiHandler({ prefix: "?", final: "l" }, altSwitch);
    term.parser.registerEscHandler({ final: "c" }, () => wipe(false));
  }

  /** Once per line scrolled: kept free of allocations, as it runs for every line of a long listing. */
  private readonly onScroll = (): void => {
    try {
      this.scrolled(this.parsing.ts, this.parsing.offset);
    } catch (e) {
      this.fault("a scroll", e);
    }
  };

  /** The line that just scrolled off the top of the screen. */
  scrolled(ts: number, offset: number): void {
    const buffer = this.buffers.active;
    if (buffer.type !== "normal") return; // the alternate screen has no scrollback: read at its switches
    const y = buffer.baseY - 1;
    const line = y >= 0 ? lineAt(buffer, y) : undefined;
    if (!line) return;
    const continues = lineAt(buffer, y + 1)?.isWrapped === true;
    const text = line.translateToString(!continues);
    if (line.isWrapped && this.carry !== null) {
      this.carry += text;
    } else {
      this.flushCarry(ts, offset);
      this.carry = text;
    }
    if (this.carry.length > MAX_LINE_CHARS) {
      this.emit(this.carry, ts, offset);
      this.carry = this.carry.slice(-PIECE_OVERLAP);
    }
    if (!continues) this.flushCarry(ts, offset);
  }

  /** Every line on screen now; `skipCursorLine` leaves out the line being written or edited. */
  screen(ts: number, offset: number, skipCursorLine: boolean): void {
    const buffer = this.buffers.active;
    const top = buffer.viewportY;
    const rows = this.term.rows;
    const cursorY = buffer.cursorY;
    let text = "";
    let first = 0;
    for (let y = 0; y < rows; y++) {
      const line = buffer.getLine(top + y);
      if (!line) break;
      const continues = y + 1 < rows && buffer.getLine(top + y + 1)?.isWrapped === true;
      text += line.translateToString(!continues);
      if (continues && text.length <= MAX_LINE_CHARS) continue;
      if (!(skipCursorLine && cursorY >= first && cursorY <= y)) this.emit(text, ts, offset);
      text = "";
      first = y + 1;
    }
  }

  /** The text of the row the cursor is on, trimmed. */
  cursorLine(): string {
    const buffer = this.buffers.active;
    return buffer.getLine(buffer.viewportY + buffer.cursorY)?.translateToString(true).trim() ?? "";
  }

  flushCarry(ts: number, offset: number): void {
    if (this.carry !== null) this.emit(this.carry, ts, offset);
    this.carry = null;
  }

  private emit(raw: string, ts: number, offset: number): void {
    const text = raw.trim();
    if (text === "") return;
    if (this.recent.has(text)) return;
    if (this.older.has(text)) {
      this.remember(text);
      return;
    }
    this.remember(text);
    this.sink(text, ts, offset);
  }

  /**
   * Two generations of recent lines: enough to cover a screen several times over, so redraws
   * of it are recognised, and constant work per line however long the session.
   */
  private remember(text: string): void {
    this.recent.add(text);
    if (this.recent.size >= 64 && this.recent.size >= Math.min(2048, this.term.rows * 4)) {
      this.older = this.recent;
      this.recent = new Set();
    }
  }
}
