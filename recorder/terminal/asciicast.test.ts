import { describe, expect, it } from "vitest";
import { toAsciicast } from "./asciicast.js";
import type { TerminalEvent } from "./model.js";

const enc = (s: string) => new TextEncoder().encode(s);
const parse = (cast: string) => cast.trimEnd().split("\n").map((line) => JSON.parse(line) as unknown);

describe("asciicast v2 export", () => {
  const startedAt = Date.parse("2025-03-01T10:00:00.000Z");

  it("is a header line, then one JSON array per event with seconds from the start", () => {
    const events: TerminalEvent[] = [
      { ts: startedAt + 5, kind: "output", data: enc("$ ") },
      { ts: startedAt + 1250, kind: "input", data: enc("ls\r") },
      { ts: startedAt + 1251, kind: "output", data: enc("ls\r\nfile\r\n$ ") },
      { ts: startedAt + 2000.5, kind: "resize", cols: 120, rows: 40 },
      { ts: startedAt + 61_000, kind: "output", data: enc("bye\r\n") },
    ];
    const cast = toAsciicast({ cols: 80, rows: 24, startedAt, title: "alice root@web-1", env: { TERM: "xterm-256color" } }, events);
    expect(cast.endsWith("\n")).toBe(true);
    const [header, ...lines] = parse(cast);
    expect(header).toEqual({ version: 2, width: 80, height: 24, timestamp: startedAt / 1000, title: "alice root@web-1", env: { TERM: "xterm-256color" } });
    expect(lines).toEqual([
      [0.005, "o", "$ "],
      [1.25, "i", "ls\r"],
      [1.251, "o", "ls\r\nfile\r\n$ "],
      [2.0005, "r", "120x40"],
      [61, "o", "bye\r\n"],
    ]);
    // Times are written as decimals with six places, as asciinema writes them.
    expect(cast.split("\n")[1]).toBe('[0.005000, "o", "$ "]');
  });

  it("keeps a character split across chunks whole and turns invalid bytes into U+FFFD", () => {
    const euro = enc("€"); // three bytes
    const events: TerminalEvent[] = [
      { ts: startedAt, kind: "output", data: new Uint8Array([0x61, euro[0] as number]) },
      { ts: startedAt + 1, kind: "output", data: new Uint8Array([euro[1] as number]) },
      { ts: startedAt + 2, kind: "output", data: new Uint8Array([euro[2] as number, 0x62, 0xff, 0xc3]) },
      { ts: startedAt + 3, kind: "output", data: new Uint8Array([0x28]) }, // not a continuation byte
      { ts: startedAt + 4, kind: "output", data: enc("\x1b[31mred\x1b[0m\x00") },
    ];
    const lines = parse(toAsciicast({ cols: 80, rows: 24, startedAt }, events)).slice(1) as [number, string, string][];
    expect(lines.map((l) => l[2]).join("")).toBe("a€b\ufffd\ufffd(\x1b[31mred\x1b[0m\x00");
    expect(lines.map((l) => l[2])).not.toContain("");
  });

  it("never lets time run backwards or before the start, and clamps absurd sizes", () => {
    const events: TerminalEvent[] = [
      { ts: startedAt - 500, kind: "output", data: enc("early") },
      { ts: startedAt + 3000, kind: "output", data: enc("a") },
      { ts: startedAt + 1000, kind: "output", data: enc("b") },
      { ts: Number.NaN, kind: "output", data: enc("c") },
      { ts: startedAt + 4000, kind: "resize", cols: 100_000, rows: -5 },
      { ts: startedAt + 4001, kind: "resize", cols: Number.NaN, rows: 50 },
    ];
    const cast = toAsciicast({ cols: 0, rows: Number.NaN, startedAt }, events);
    const [header, ...lines] = parse(cast) as [Record<string, unknown>, ...[number, string, string][]];
    expect(header).toMatchObject({ width: 80, height: 24 }); // 0 and NaN: not known
    expect(lines).toEqual([
      [0, "o", "early"],
      [3, "o", "a"],
      [3, "o", "b"],
      [3, "o", "c"],
      [4, "r", "1000x24"],
      [4.001, "r", "1000x50"],
    ]);
  });
});
