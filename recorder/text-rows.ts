// What a terminal indexer found, as rows of the text table. Lines shown one after another
// within a second share a row (search finds the matching line in it): a screen scrolling fast
// is one row per block of lines, not one per line. Typed lines are a row each.
import type { TextHit } from "./terminal/index.js";

/** Characters of a searchable line. */
export const MAX_TEXT_LINE = 64 * 1024;
/** Lines shown on a terminal kept in one row of the text table at most. */
const SHOWN_LINES_PER_ROW = 64;
/** Shown lines further apart than this start a new row. */
const SHOWN_ROW_MS = 1000;

export interface TextRowContent {
  ts: number;
  offset: number;
  source: TextHit["source"];
  line: string;
}

export function textRowsOf(hits: readonly TextHit[]): TextRowContent[] {
  const rows: TextRowContent[] = [];
  let group: { ts: number; offset: number; lines: string[]; size: number } | null = null;
  const flush = () => {
    if (group) rows.push({ ts: group.ts, offset: group.offset, source: "shown", line: group.lines.join("\n") });
    group = null;
  };
  for (const t of hits) {
    if (t.source !== "shown") {
      flush();
      rows.push({ ts: t.ts, offset: t.offset, source: t.source, line: t.text });
      continue;
    }
    if (group && (group.lines.length >= SHOWN_LINES_PER_ROW || group.size + t.text.length > MAX_TEXT_LINE || t.ts - group.ts >= SHOWN_ROW_MS)) flush();
    group ??= { ts: t.ts, offset: t.offset, lines: [], size: 0 };
    group.lines.push(t.text);
    group.size += t.text.length + 1;
  }
  flush();
  return rows;
}
