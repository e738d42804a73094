import { describe, expect, it } from "vitest";
import { base64Length, writeBase64, writeNumber } from "./row-bytes.js";
import { eventLine, eventRowFixed, eventRowRoom, EVENT_KINDS, field, writeEventRow } from "./tables.js";

/** Bytes that cover every value and differ from one call to the next, the same at every run. */
const sample = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + ((i * i) >> 3)) & 0xff);

describe("row bytes", () => {
  it("writes numbers as their decimal strings, also the odd ones", () => {
    const buf = Buffer.alloc(64);
    for (const n of [0, 7, 9, 10, 99, 100, 12345, 1_765_432_109_876, Number.MAX_SAFE_INTEGER, -1, 1.5, 2 ** 60]) {
      const end = writeNumber(buf, 3, n);
      expect(buf.subarray(3, end).toString("latin1")).toBe(String(n));
    }
  });

  it("writes base64 as Node does, for every length either side of the native switch", () => {
    const buf = Buffer.alloc(4096);
    for (let n = 0; n <= 700; n++) {
      const data = sample(n, n);
      const end = writeBase64(buf, 1, data);
      expect(end - 1).toBe(base64Length(n));
      expect(buf.subarray(1, end).toString("latin1")).toBe(Buffer.from(data).toString("base64"));
    }
  });

  it("writes an event row byte for byte as the line the verifier rebuilds", () => {
    const metas = ["", JSON.stringify({ text: "SELECT '\\t\\n' -- ünïcödé 🙂", params: ["a\\b", null] }), JSON.stringify({ cols: 80, rows: 24 })];
    const sid = field("3f0c1e9a-0000-4000-8000-000000000001");
    const startedAt = 1_765_000_000_123;
    const fixed = eventRowFixed(sid, startedAt);
    for (let i = 0; i < 300; i++) {
      const data = i % 3 === 0 ? null : sample((i * 37) % 600, i);
      const meta = data ? "" : (metas[i % metas.length] as string);
      const kind = EVENT_KINDS[i % EVENT_KINDS.length] ?? "output";
      const row = { seq: i * 977, ts: startedAt + i * 13, kind, channel: i % 4, offset: i * 1000, chunk: Math.floor(i / 50), v: 1, startedAt };
      const room = eventRowRoom(fixed, data, meta);
      const buf = Buffer.alloc(room + 8, 0xee);
      const end = writeEventRow(buf, 4, fixed, row.seq, row.ts, row.kind, row.channel, row.offset, data, meta, row.chunk, row.v);
      expect(end - 4).toBeLessThanOrEqual(room);
      const line = eventLine(sid, { ...row, b64: data ? Buffer.from(data).toString("base64") : "", meta });
      expect(buf.subarray(4, end).toString("utf8")).toBe(`${line}\n`);
    }
  });
});
