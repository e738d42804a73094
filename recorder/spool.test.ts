// The spool keeps batches in order across reopening, drops a torn or damaged tail with one
// warning, resumes after what was acknowledged, and takes no room once drained.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { BatchPart, RecorderLogger } from "./ports.js";
import { Spool } from "./spool.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "jitgate-spool-unit-"));
  dirs.push(d);
  return d;
}

function logger(): RecorderLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) };
}

// Events of both formats: an older gateway's spool holds TabSeparated ones.
const batch = (n: number): BatchPart[] => [
  { table: "events", format: "RowBinary", token: `events-${n}`, rows: 2, body: Buffer.from(`row ${n} a\x00row ${n} \xff b\x01`, "latin1") },
  { table: "text", format: "TabSeparated", token: `text-${n}`, rows: 1, body: Buffer.from(`text ${n}\n`) },
  { table: "events", format: "TabSeparated", token: `v1-${n}`, rows: 1, body: Buffer.from(`s\t${n}\n`) },
];

async function drain(spool: Spool): Promise<number[]> {
  const seen: number[] = [];
  for (let head = await spool.head(); head; head = await spool.head()) {
    seen.push(Number(/events-(\d+)/.exec(head.parts[0]?.token ?? "")?.[1]));
    await head.ack();
  }
  return seen;
}

const segments = (d: string) => readdirSync(d).filter((f) => f.endsWith(".spool")).sort();

describe("spool", () => {
  it("gives batches back in order, byte for byte, and across a reopen", async () => {
    const d = dir();
    const a = await Spool.open(d, logger());
    await Promise.all([1, 2, 3].map((n) => a.append(batch(n))));
    expect(a.pending).toBe(3);
    const head = await a.head();
    expect(head?.parts).toEqual(batch(1));
    await head?.ack();
    await a.close();

    const b = await Spool.open(d, logger());
    expect(b.pending).toBe(2);
    await b.append(batch(4));
    expect(await drain(b)).toEqual([2, 3, 4]);
    expect(b.pending).toBe(0);
    expect(segments(d)).toEqual([]);
    await b.append(batch(5));
    expect(await drain(b)).toEqual([5]);
    await b.close();
  });

  it("cuts a torn tail off at reopen, warns once, and keeps appending after it", async () => {
    const d = dir();
    const a = await Spool.open(d, logger());
    for (const n of [1, 2]) await a.append(batch(n));
    await a.close();
    const [segment] = segments(d);
    const path = join(d, segment!);
    const whole = readFileSync(path);
    appendFileSync(path, whole.subarray(0, 20)); // the start of a record whose end never reached the disk

    const log = logger();
    const b = await Spool.open(d, log);
    expect(log.warnings).toHaveLength(1);
    expect(readFileSync(path).length).toBe(whole.length);
    await b.append(batch(3));
    expect(await drain(b)).toEqual([1, 2, 3]);
    await b.close();
  });

  it("stops at a record whose checksum fails and keeps the ones before it", async () => {
    const d = dir();
    const a = await Spool.open(d, logger());
    for (const n of [1, 2, 3]) await a.append(batch(n));
    await a.close();
    const path = join(d, segments(d)[0]!);
    const bytes = readFileSync(path);
    const second = bytes.indexOf("row 2 a");
    bytes[second] = bytes[second]! ^ 0xff;
    writeFileSync(path, bytes);

    const log = logger();
    const b = await Spool.open(d, log);
    expect(log.warnings).toHaveLength(1);
    expect(await drain(b)).toEqual([1]);
    await b.close();
  });

  it("reports a directory it cannot use as SPOOL_FAILED", async () => {
    const d = dir();
    writeFileSync(join(d, "file"), "");
    await expect(Spool.open(join(d, "file", "spool"), logger())).rejects.toMatchObject({ code: "SPOOL_FAILED" });
  });
});
