// The headless terminal and its serializer, and the one internal reached past xterm's public
// API: a synchronous parse. xterm's own write queue parses on timers, throws once 50 MB are
// pending, and lets a parser fault escape into a timer, where no caller can catch it and the
// queue stalls for good. Parsing in the indexer's own loop inside try/catch avoids all three.
// Both packages ship CommonJS builds; Node's ESM loader hands their exports over as default.
import headless from "@xterm/headless";
import serialize from "@xterm/addon-serialize";
import type { Terminal } from "@xterm/headless";
import { repairSerialized } from "./serialize-repair.js";

export type { Terminal };

/** Sizes beyond these are clamped: a 1000×500 screen already costs about 6 MB of cells. */
export const MIN_COLS = 2;
export const MAX_COLS = 1000;
export const MIN_ROWS = 1;
export const MAX_ROWS = 500;

/** Clamps one dimension; NaN (and anything not a number) takes the fallback. */
export function clampDimension(value: unknown, min: number, max: number, fallback: number): number {
  // SSH sends 0 for a dimension it does not know (RFC 4254 6.2): keep what we had, not 1.
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) return fallback;
  return Math.min(max, Math.max(min, Math.trunc(value)));
}

export const clampCols = (value: unknown, fallback: number): number => clampDimension(value, MIN_COLS, MAX_COLS, fallback);
export const clampRows = (value: unknown, fallback: number): number => clampDimension(value, MIN_ROWS, MAX_ROWS, fallback);

type CountHandler = (params: { params: number[]; length: number }) => unknown;

interface Internals {
  _core?: { _inputHandler?: Record<string, CountHandler | undefined> & { parse?: (data: Uint8Array) => unknown } };
}

export interface Screen {
  readonly term: Terminal;
  /** Parses bytes into the screen before returning; throws whatever the parser throws. */
  parse(data: Uint8Array): void;
  /** The visible screen (and the alternate buffer when active) as bytes that redraw it. */
  serialize(): string;
}

/**
 * A terminal of cols×rows keeping `scrollback` lines above the screen. Throws when the
 * installed @xterm/headless lacks the synchronous parser this module was written against.
 */
export function createScreen(cols: number, rows: number, scrollback: number): Screen {
  const term = new headless.Terminal({ cols, rows, scrollback, allowProposedApi: true, logLevel: "off" });
  const serializer = new serialize.SerializeAddon();
  term.loadAddon(serializer);
  const handler = (term as unknown as Internals)._core?._inputHandler;
  const parse = handler?.parse;
  if (typeof parse !== "function") {
    term.dispose();
    throw new Error("@xterm/headless has no synchronous parser (terminal._core._inputHandler.parse): install the 6.0 release this code was written against");
  }
  guardCounts(term, handler as Record<string, CountHandler | undefined>);
  return {
    term,
    parse: (data) => void parse.call(handler, data),
    serialize: () => repairSerialized(term, serializer.serialize({ scrollback: 0 })),
  };
}

/** What of a buffer line the indexer reads. */
export interface LineReader {
  readonly isWrapped: boolean;
  translateToString(trimRight?: boolean): string;
}

type BufferView = Terminal["buffer"]["active"];

/**
 * Line y of a buffer. xterm's public getLine() wraps each line in a new object; the indexer
 * reads one line per line scrolled, so it reads xterm's own line where it can (the same
 * methods) and falls back to the public view.
 */
export function lineAt(buffer: BufferView, y: number): LineReader | undefined {
  const lines = (buffer as unknown as { _buffer?: { lines?: { get?: (i: number) => LineReader | undefined } } })._buffer?.lines;
  return typeof lines?.get === "function" ? lines.get(y) : buffer.getLine(y);
}

/** The rows of the screen now showing (normal or alternate), right-trimmed. */
export function screenRows(term: Terminal): string[] {
  const buffer = term.buffer.active;
  const rows: string[] = [];
  for (let y = 0; y < term.rows; y++) rows.push(buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? "");
  return rows;
}

/**
 * xterm repeats these sequences once per unit of their count, up to 2^31 times: nine bytes of
 * `CSI 9999999 L` kept it busy for half a minute. No count beyond a screenful does more than
 * a screenful would, so a larger one runs as that.
 */
const COUNTED: { final: string; method: string; limit: (t: Terminal) => number }[] = [
  { final: "L", method: "insertLines", limit: (t) => t.rows },
  { final: "M", method: "deleteLines", limit: (t) => t.rows },
  { final: "S", method: "scrollUp", limit: (t) => t.rows },
  { final: "T", method: "scrollDown", limit: (t) => t.rows },
  { final: "I", method: "cursorForwardTab", limit: (t) => t.cols },
  { final: "Z", method: "cursorBackwardTab", limit: (t) => t.cols },
  { final: "b", method: "repeatPrecedingCharacter", limit: (t) => t.cols * t.rows },
];

function guardCounts(term: Terminal, handler: Record<string, CountHandler | undefined>): void {
  for (const { final, method, limit } of COUNTED) {
    term.parser.registerCsiHandler({ final }, (params) => {
      const count = params[0];
      const max = limit(term);
      if (typeof count !== "number" || count <= max) return false;
      // Run as the largest count that matters; with no such method, drop the sequence.
      handler[method]?.call(handler, { params: [max], length: 1 });
      return true;
    });
  }
}
