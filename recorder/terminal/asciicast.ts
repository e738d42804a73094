// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one
// [time, code, data] line per event, time in seconds from the start. Bytes become text through
// one streaming decoder per direction, so a character split across two chunks stays whole and
// invalid bytes become U+FFFD instead of breaking the JSON or the player.
import type { TerminalEvent } from "./model.js";
import { clampCols, clampRows } from "./xterm.js";

export interface AsciicastHeader {
  cols: number;
  rows: number;
  /** Epoch milliseconds; event times are measured from here. */
  startedAt: number;
  title?: string;
  env?: Record<string, string>;
}

/** Six decimals, as asciinema writes them: always a JSON number, never an exponent. */
const seconds = (ms: number): string => (ms / 1000).toFixed(6);

export function toAsciicast(header: AsciicastHeader, events: Iterable<TerminalEvent>): string {
  const startedAt = Number.isFinite(header.startedAt) ? header.startedAt : 0;
  const head: Record<string, unknown> = {
    version: 2,
    width: clampCols(header.cols, 80),
    height: clampRows(header.rows, 24),
    timestamp: Math.floor(startedAt / 1000),
  };
  if (typeof header.title === "string") head.title = header.title;
  if (header.env) head.env = Object.fromEntries(Object.entries(header.env).filter(([, v]) => typeof v === "string"));
  const lines = [JSON.stringify(head)];
  const decoders = { o: new TextDecoder("utf-8"), i: new TextDecoder("utf-8") };
  let at = 0; // ms from the start; never goes back, so players see times in order
  const line = (code: string, data: string) => lines.push(`[${seconds(at)}, ${JSON.stringify(code)}, ${JSON.stringify(data)}]`);
  let width = head.width as number;
  let height = head.height as number;
  for (const event of events) {
    if (Number.isFinite(event.ts)) at = Math.max(at, event.ts - startedAt);
    if (event.kind === "resize") {
      width = clampCols(event.cols, width);
      height = clampRows(event.rows, height);
      line("r", `${width}x${height}`);
    } else if ((event.kind === "output" || event.kind === "input") && event.data instanceof Uint8Array) {
      const code = event.kind === "output" ? "o" : "i";
      const text = decoders[code].decode(event.data, { stream: true });
      if (text !== "") line(code, text);
    }
  }
  for (const code of ["o", "i"] as const) {
    const rest = decoders[code].decode();
    if (rest !== "") line(code, rest);
  }
  return lines.join("\n") + "\n";
}
