import { describe, expect, it } from "vitest";
import { textRowsOf } from "./text-rows.js";

const shown = (ts: number, text: string) => ({ ts, offset: ts * 10, source: "shown" as const, text });

describe("textRowsOf", () => {
  it("keeps lines shown within a second in one row, and a typed line in a row of its own", () => {
    const rows = textRowsOf([shown(0, "a"), shown(500, "b"), { ts: 600, offset: 3, source: "typed", text: "ls" }, shown(700, "c"), shown(1700, "d")]);
    expect(rows).toEqual([
      { ts: 0, offset: 0, source: "shown", line: "a\nb" },
      { ts: 600, offset: 3, source: "typed", line: "ls" },
      { ts: 700, offset: 7000, source: "shown", line: "c" },
      { ts: 1700, offset: 17000, source: "shown", line: "d" },
    ]);
  });

  it("starts a new row after 64 lines", () => {
    const rows = textRowsOf(Array.from({ length: 130 }, (_, i) => shown(1, `line ${i}`)));
    expect(rows.map((r) => r.line.split("\n").length)).toEqual([64, 64, 2]);
  });
});
