import { describe, expect, it } from "vitest";
import { readLength, write64, writeLength } from "./row-bytes.js";
import { eventRowBytes, eventRowEnd, eventRowFixed, eventRowRoom, EVENT_KINDS, writeEventRow } from "./tables.js";

/** Bytes that cover every value and differ from one call to the next, the same at every run. */
const sample = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + ((i * i) >> 3)) & 0xff);

describe("row bytes", () => {
  it("writes lengths as LEB128 and reads them back, and says when the bytes end first", () => {
    const buf = Buffer.alloc(16);
    for (const n of [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 21, 2 ** 28 + 5, 2 ** 32 + 7]) {
      const end = writeLength(buf, 2, n);
      expect(readLength(buf, 2)).toEqual([n, end]);
      expect(readLength(buf.subarray(0, end - 1), 2)).toBeNull();
    }
    expect(Array.from(buf.subarray(0, writeLength(buf, 0, 300)))).toEqual([0xac, 0x02]);
  });

  it("writes 64-bit integers little endian, also past 2^32 and below 0", () => {
    const buf = Buffer.alloc(8);
    for (const n of [0, 1, 2 ** 32 - 1, 2 ** 32, 1_765_432_109_876, Number.MAX_SAFE_INTEGER]) {
      write64(buf, 0, n);
      expect(buf.readBigUInt64LE(0)).toBe(BigInt(n));
    }
    write64(buf, 0, -5);
    expect(buf.readBigInt64LE(0)).toBe(-5n);
  });

  it("writes an event row in RowBinary byte for byte as the verifier rebuilds it, and finds where each row ends", () => {
    const metas = ["", JSON.stringify({ text: "SELECT '\\t\\n' -- ünïcödé 🙂", params: ["a\\b", null] }), JSON.stringify({ cols: 80, rows: 24 })];
    const sessionId = "3f0c1e9a-0000-4000-8000-000000000001";
    const startedAt = 1_765_000_000_123;
    const fixed = eventRowFixed(sessionId, startedAt);
    const body = Buffer.alloc(1 << 20);
    const ends: number[] = [];
    let at = 0;
    for (let i = 0; i < 300; i++) {
      const data = i % 3 === 0 ? null : sample((i * 37) % 600, i);
      const meta = data ? "" : (metas[i % metas.length] as string);
      const kind = EVENT_KINDS[i % EVENT_KINDS.length] ?? "output";
      const row = { seq: i * 977, ts: startedAt + i * 13, kind, channel: i % 4, offset: i * 1000, chunk: Math.floor(i / 50), v: 2, startedAt };
      const room = eventRowRoom(fixed, data, meta);
      const end = writeEventRow(body, at, fixed, row.seq, row.ts, row.kind, row.channel, row.offset, data, meta, row.chunk, row.v);
      expect(end - at).toBeLessThanOrEqual(room);
      const rebuilt = eventRowBytes(sessionId, { ...row, data: Buffer.from(data ?? []), meta });
      expect(body.subarray(at, end).equals(rebuilt)).toBe(true);
      ends.push(end);
      at = end;
    }
    let from = 0;
    for (const end of ends) {
      expect(eventRowEnd(body, from)).toBe(end);
      from = end;
    }
    expect(eventRowEnd(body.subarray(0, (ends[0] as number) - 1), 0)).toBe(-1);
  });

  it("rebuilds a version 1 row as the TabSeparated line, with its bytes in base64, that its chain hashed", () => {
    const row = { seq: 7, ts: 1_765_000_000_500, kind: "sql" as const, channel: 0, offset: 0, data: Buffer.from("hi"), meta: '{"text":"a\\\\b"}', chunk: 0, v: 1, startedAt: 1_765_000_000_123 };
    expect(eventRowBytes("s\t1", row).toString()).toBe('s\\t1\t7\t1765000000500\tsql\t0\t0\taGk=\t{"text":"a\\\\\\\\b"}\t0\t1\t1765000000123\n');
  });
});
