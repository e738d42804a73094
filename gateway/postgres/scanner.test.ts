import { describe, expect, it } from "vitest";
import { PgGatewayError } from "./errors.js";
import { FrameScanner, typeSet } from "./scanner.js";
import { message } from "./wire.js";

function collect(wants: string, maxBody = 1 << 20) {
  const seen: { type: string; body: string | null }[] = [];
  const s = new FrameScanner(typeSet(wants), (t, body) => seen.push({ type: String.fromCharCode(t), body: body?.toString() ?? null }), maxBody, 1 << 20, "client");
  return { s, seen };
}

const stream = Buffer.concat([message("Q", Buffer.from("SELECT 1\0")), message("D", Buffer.from("row")), message("C", Buffer.from("SELECT 1\0")), message("Z", Buffer.from("I"))]);

describe("FrameScanner", () => {
  it("finds the same messages whatever the chunking, even one byte at a time", () => {
    const whole = collect("QCZ");
    whole.s.scan(stream);
    expect(whole.seen).toEqual([
      { type: "Q", body: "SELECT 1\0" },
      { type: "D", body: null },
      { type: "C", body: "SELECT 1\0" },
      { type: "Z", body: "I" },
    ]);
    expect(whole.s.atBoundary).toBe(true);
    for (const size of [1, 2, 3, 7]) {
      const split = collect("QCZ");
      for (let i = 0; i < stream.length; i += size) {
        split.s.scan(stream.subarray(i, i + size));
        if (i + size < stream.length && i + size > 0 && i + size < 14) expect(split.s.atBoundary).toBe(false);
      }
      expect(split.seen).toEqual(whole.seen);
    }
  });

  it("hands over no body when it is larger than the recording limit", () => {
    const c = collect("Q", 4);
    c.s.scan(message("Q", Buffer.from("SELECT 1\0")));
    expect(c.seen).toEqual([{ type: "Q", body: null }]);
  });

  it("refuses a length under 4 and one over the limit", () => {
    const c = collect("");
    expect(() => c.s.scan(Buffer.from([0x51, 0, 0, 0, 3]))).toThrow(PgGatewayError);
    const big = collect("");
    expect(() => big.s.scan(Buffer.from([0x51, 0x7f, 0, 0, 0]))).toThrow(/limit/);
  });
});
