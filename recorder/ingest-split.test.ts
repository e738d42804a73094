// Halving a refused part: at row boundaries of either format, and never into a half that
// would be refused the same way forever.
import { describe, expect, it } from "vitest";
import { split } from "./ingest.js";
import type { BatchPart } from "./ports.js";
import { eventRowFixed, eventRowRoom, writeEventRow } from "./tables.js";

function rowBinary(n: number): Buffer {
  const fixed = eventRowFixed("s-1", 1_765_000_000_000);
  const data = Buffer.from("some output\r\n");
  const body = Buffer.alloc(n * eventRowRoom(fixed, data, ""));
  let at = 0;
  for (let seq = 0; seq < n; seq++) at = writeEventRow(body, at, fixed, seq, 1_765_000_000_000 + seq, "output", 0, seq * data.length, data, "", 0, 2);
  return body.subarray(0, at);
}

const part = (format: BatchPart["format"], rows: number, body: Buffer): BatchPart => ({ table: "events", format, token: "t", rows, body });

describe("splitting a refused part", () => {
  it("halves TabSeparated lines and RowBinary rows at a row boundary", () => {
    const [a, b] = split(part("TabSeparated", 3, Buffer.from("a\nb\nc\n"))) ?? [];
    expect([a?.rows, a?.body.toString(), a?.token, b?.rows, b?.body.toString(), b?.token]).toEqual([1, "a\n", "t.a", 2, "b\nc\n", "t.b"]);
    const whole = rowBinary(4);
    const halves = split(part("RowBinary", 4, whole));
    expect(halves?.map((h) => h.rows)).toEqual([2, 2]);
    expect(Buffer.concat(halves?.map((h) => h.body) ?? []).equals(whole)).toBe(true);
    expect(split(part("RowBinary", 2, (halves?.[0] as BatchPart).body))?.map((h) => h.rows)).toEqual([1, 1]);
  });

  it("keeps the readable rows before a row cut short, and gives up on a part whose first row is cut", () => {
    const good = rowBinary(1);
    const cut = rowBinary(1).subarray(0, 10);
    const halves = split(part("RowBinary", 4, Buffer.concat([good, cut])));
    expect(halves?.map((h) => h.rows)).toEqual([1, 3]);
    expect(halves?.[0]?.body.equals(good)).toBe(true);
    expect(split(part("RowBinary", 3, cut))).toBeNull();
  });
});
