import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.js";
import { ControlError } from "./errors.js";

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["90s", 90_000],
    ["15m", 900_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1h30m", 5_400_000],
    ["1d2h3m4s5ms", 93_784_005],
    ["0h30m", 1_800_000],
    ["30d", 2_592_000_000],
  ])("reads %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "0m", "-5m", "abc", "5", "5 m", "1.5h", "m", "2H", " 2h", "30m1h", "1h1h", "99999999999999999999d", "9007199254740992ms"])(
    "refuses %j",
    (text) => {
      let caught: unknown;
      try {
        parseDuration(text);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ControlError);
      const err = caught as ControlError;
      expect(err.code).toBe("INVALID_DURATION");
      expect(err.kind).toBe("invalid");
      expect(err.message).toContain(`${JSON.stringify(text)} is not a duration`);
    },
  );

  it("says what form is expected", () => {
    expect(() => parseDuration("-5m")).toThrow('"-5m" is not a duration: use a positive number with a unit, like 30m, 2h or 1d');
  });
});

describe("formatDuration", () => {
  it.each([
    [5_400_000, "1h30m"],
    [45_000, "45s"],
    [172_800_000, "2d"],
    [500, "500ms"],
    [90_061_001, "1d1h1m1s1ms"],
    [0, "0s"],
    [-60_000, "-1m"],
  ])("writes %d as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([
    ["90s", "1m30s"],
    ["1h30m", "1h30m"],
    ["48h", "2d"],
    ["1d23h59m59s999ms", "1d23h59m59s999ms"],
  ])("normalises %s to %s", (text, shortest) => {
    expect(formatDuration(parseDuration(text))).toBe(shortest);
  });
});
