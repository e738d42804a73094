import { describe, expect, it } from "vitest";
import { ReadHolds } from "./holds.js";

function source() {
  const calls: string[] = [];
  return { calls, s: { pause: () => calls.push("pause"), resume: () => calls.push("resume") } };
}

describe("ReadHolds", () => {
  it("pauses on the first reason and resumes only when the last one is released, in either order", () => {
    for (const [first, second] of [[1, 2], [2, 1]] as const) {
      const { calls, s } = source();
      const h = new ReadHolds(s);
      expect(h.hold(1)).toBe(true);
      expect(h.hold(2)).toBe(true);
      expect(calls).toEqual(["pause"]);
      h.release(first);
      expect(calls).toEqual(["pause"]);
      expect(h.held()).toBe(true);
      h.release(second);
      expect(calls).toEqual(["pause", "resume"]);
      expect(h.held()).toBe(false);
    }
  });

  it("holds once per reason: a second hold asks for no second release, and a stray release does nothing", () => {
    const { calls, s } = source();
    const h = new ReadHolds(s);
    expect(h.hold(2)).toBe(true);
    expect(h.hold(2)).toBe(false);
    h.release(1);
    expect(calls).toEqual(["pause"]);
    h.release(2);
    h.release(2);
    expect(calls).toEqual(["pause", "resume"]);
  });

  it("never resumes once stopped", () => {
    const { calls, s } = source();
    const h = new ReadHolds(s);
    h.hold(1);
    h.stop();
    h.release(1);
    expect(calls).toEqual(["pause"]);
    expect(h.held()).toBe(false);
  });
});
