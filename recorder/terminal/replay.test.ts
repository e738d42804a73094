import { describe, expect, it } from "vitest";
import type { TerminalEvent } from "./model.js";
import { replayFrames } from "./replay.js";

const enc = (s: string) => new TextEncoder().encode(s);
const out = (ts: number, s: string): TerminalEvent => ({ ts, kind: "output", data: enc(s) });

describe("replay frames", () => {
  const events: TerminalEvent[] = [
    out(1000, "a"),
    { ts: 1100, kind: "input", data: enc("x") },
    out(1300, "b"),
    { ts: 1400, kind: "resize", cols: 100, rows: 30 },
    out(61_400, "c"), // a minute idle
    out(61_400, ""),
    out(61_450, "d"),
  ];
  const delays = (speed: number, idleCapMs: number) => [...replayFrames(events, { speed, idleCapMs })].map((f) => f.delayMs);

  it("keep the original timing, skip input, and carry resizes", () => {
    const frames = [...replayFrames(events, { speed: 1, idleCapMs: Infinity })];
    expect(frames).toEqual([
      { delayMs: 0, data: enc("a") },
      { delayMs: 300, data: enc("b") },
      { delayMs: 100, resize: { cols: 100, rows: 30 } },
      { delayMs: 60_000, data: enc("c") },
      { delayMs: 50, data: enc("d") },
    ]);
  });

  it("cap idle gaps", () => {
    expect(delays(1, 2000)).toEqual([0, 300, 100, 2000, 50]);
  });

  it("divide every delay by the speed, after the cap", () => {
    expect(delays(2, 2000)).toEqual([0, 150, 50, 1000, 25]);
    expect(delays(0.5, 2000)).toEqual([0, 600, 200, 4000, 100]);
  });

  it("take the first event as the start of the clock, so a caller can resume mid-recording", () => {
    const resumed = [...replayFrames([out(1300, ""), out(1800, "e")], { speed: 1, idleCapMs: Infinity })];
    expect(resumed).toEqual([{ delayMs: 500, data: enc("e") }]);
  });

  it("never wait a negative time when timestamps run backwards", () => {
    expect([...replayFrames([out(5000, "a"), out(4000, "b"), out(4500, "c")], { speed: 1, idleCapMs: Infinity })].map((f) => f.delayMs)).toEqual([0, 0, 500]);
  });

  it("refuse a speed that is not above 0, saying what to use", () => {
    for (const speed of [0, -1, Number.NaN]) {
      expect(() => replayFrames(events, { speed, idleCapMs: 1000 })).toThrow(expect.objectContaining({ code: "replay_options_invalid", message: expect.stringMatching(/speed must be a number above 0.*use 1 for real time/) }));
    }
    expect(() => replayFrames(events, { speed: 1, idleCapMs: -1 })).toThrow(expect.objectContaining({ code: "replay_options_invalid" }));
  });
});
