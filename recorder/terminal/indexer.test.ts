import { describe, expect, it } from "vitest";
import { TerminalIndexer } from "./indexer.js";
import type { Keyframe } from "./model.js";
import { createScreen, screenRows } from "./xterm.js";

const enc = (s: string) => new TextEncoder().encode(s);

/** Deterministic pseudo-random numbers in [0, 1), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A busy terminal session in pieces, each a whole sequence: text, colours, wrapping, wide
 * characters, cursor moves, clears, scroll regions, the alternate screen.
 */
function pieces(seed: number, count: number): Uint8Array[] {
  const rnd = random(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const out: Uint8Array[] = [];
  let alt = false;
  for (let i = 0; i < count; i++) {
    const piece = pick([
      () => `line ${i}: the quick brown fox\r\n`,
      () => `\x1b[3${i % 8}mcolour ${i}\x1b[0m \x1b[1;4${(i + 3) % 8}mbold\x1b[m\r\n`,
      () => `${"wrapped-".repeat(12)}${i}\r\n`,
      () => `漢字テスト ${i} 🙂 café\r\n`,
      () => `\x1b[${1 + (i % 9)};${1 + (i % 30)}H<${i}>`,
      () => `\x1b[K\x1b[2;5r\x1b[5;1H\n\nscrolled ${i}\x1b[r`,
      () => (i % 7 === 0 ? `\x1b[H\x1b[2J` : `\x1b[1J`),
      () => {
        alt = !alt;
        return alt ? `\x1b[?1049h\x1b[Halt ${i}\r\n~\r\n~` : `\x1b[?1049l`;
      },
      () => `\x1b]0;title ${i}\x07\x1bP$qm\x1b\\progress ${i}%\r`,
    ])();
    out.push(enc(piece));
  }
  return out;
}

const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const session = (seed: number, count: number): Uint8Array => concat(pieces(seed, count));

interface Rendered {
  rows: string[];
  cursor: [number, number];
  alternate: boolean;
}

function render(cols: number, rows: number, bytes: Uint8Array): Rendered {
  const screen = createScreen(cols, rows, 0);
  screen.parse(bytes);
  const buffer = screen.term.buffer.active;
  const rendered: Rendered = { rows: screenRows(screen.term), cursor: [buffer.cursorX, buffer.cursorY], alternate: buffer.type === "alternate" };
  screen.term.dispose();
  return rendered;
}

const replayed = (k: Keyframe) => render(k.cols, k.rows, enc(k.screen));

describe("keyframes", () => {
  it("replayed into a fresh terminal, each keyframe redraws the screen as it was at its offset, and the output after it plays on alike", async () => {
    const parts = pieces(1, 1200);
    const bytes = concat(parts);
    const ix = new TerminalIndexer({ cols: 40, rows: 10, keyframeIntervalBytes: 600 });
    const rnd = random(2);
    for (let i = 0, off = 0, ts = 0; i < parts.length; ts += 10) {
      const chunk = concat(parts.slice(i, (i += 1 + Math.floor(rnd() * 4))));
      ix.output(ts, off, chunk);
      off += chunk.length;
    }
    await ix.finish(1_000_000);
    const { keyframes } = ix.take();
    expect(keyframes.length).toBeGreaterThan(bytes.length / 1200);
    expect(keyframes.some((k) => replayed(k).alternate)).toBe(true);
    for (const k of keyframes) {
      expect(replayed(k), `keyframe at offset ${k.offset}`).toEqual(render(40, 10, bytes.subarray(0, k.offset)));
      const next = bytes.subarray(k.offset, k.offset + 300);
      expect(render(k.cols, k.rows, concat([enc(k.screen), next])), `output after keyframe at ${k.offset}`).toEqual(render(40, 10, bytes.subarray(0, k.offset + 300)));
    }
    expect(keyframes.at(-1)?.offset).toBe(bytes.length);
    expect(ix.takeError()).toBeNull();
  });

  it("comes at the first output, then once per interval of time or of bytes", async () => {
    const ix = new TerminalIndexer({ cols: 20, rows: 4, keyframeIntervalMs: 1000, keyframeIntervalBytes: 100 });
    let off = 0;
    const out = (ts: number, s: string) => {
      ix.output(ts, off, enc(s));
      off += s.length;
    };
    out(0, "a");
    out(500, "b");
    out(1200, "c"); // a second after the first keyframe
    out(1300, "x".repeat(60));
    out(1400, "y".repeat(60)); // 120 bytes since the last keyframe
    out(1500, "z");
    await ix.finish(1600);
    expect(ix.take().keyframes.map((k) => [k.ts, k.offset])).toEqual([
      [0, 1],
      [1200, 3],
      [1400, 123],
      [1600, 124],
    ]);
  });

  it("after a resize, the next keyframe has the new size", async () => {
    const ix = new TerminalIndexer({ cols: 80, rows: 24 });
    ix.output(0, 0, enc("hello"));
    ix.resize(10, 100, 30);
    ix.output(20, 5, enc(" world"));
    await ix.finish(30);
    const keyframes = ix.take().keyframes;
    expect(keyframes.map((k) => [k.offset, k.cols, k.rows])).toEqual([
      [5, 80, 24],
      [11, 100, 30],
    ]);
    expect(replayed(keyframes[1] as Keyframe).rows[0]).toBe("hello world");
  });
});

describe("snapshot", () => {
  it("shows the screen as of exactly the bytes given before the call, while output keeps coming", async () => {
    const bytes = session(3, 1500);
    const ix = new TerminalIndexer({ cols: 40, rows: 10 });
    const rnd = random(4);
    const taken: { given: number; backlog: number; snap: Promise<Keyframe> }[] = [];
    for (let off = 0; off < bytes.length; ) {
      const n = 1 + Math.floor(rnd() * 400);
      ix.output(off, off, bytes.subarray(off, off + n));
      off = Math.min(bytes.length, off + n);
      if (rnd() < 0.25) taken.push({ given: off, backlog: ix.backlogBytes, snap: ix.snapshot() });
      if (rnd() < 0.15) await new Promise((r) => setImmediate(r)); // parsing runs between writes
    }
    const snaps = await Promise.all(taken.map((t) => t.snap));
    expect(snaps.length).toBeGreaterThan(50);
    // Most snapshots were asked for while earlier output still waited to be parsed.
    expect(taken.filter((t) => t.backlog > 0).length).toBeGreaterThan(snaps.length / 2);
    snaps.forEach((snap, i) => {
      expect(snap.offset).toBe(taken[i]?.given);
      expect(replayed(snap), `snapshot at offset ${snap.offset}`).toEqual(render(40, 10, bytes.subarray(0, snap.offset)));
    });
  });

  it("of a terminal given nothing is the empty screen at offset 0", async () => {
    const ix = new TerminalIndexer({ cols: 30, rows: 5 });
    const snap = await ix.snapshot();
    expect(snap).toMatchObject({ offset: 0, cols: 30, rows: 5 });
    expect(replayed(snap).rows).toEqual(["", "", "", "", ""]);
  });

  it("counts a batch given again (a retry) once", async () => {
    const ix = new TerminalIndexer({ cols: 30, rows: 5 });
    ix.output(0, 0, enc("abc"));
    ix.output(1, 0, enc("abcdef")); // the first three bytes again, then three new ones
    ix.output(2, 3, enc("def"));
    const snap = await ix.snapshot();
    expect(snap.offset).toBe(6);
    expect(replayed(snap).rows[0]).toBe("abcdef");
    expect(ix.takeError()).toBeNull();
  });

  it("after dispose is refused with a typed error", async () => {
    const ix = new TerminalIndexer({ cols: 30, rows: 5 });
    ix.output(0, 0, enc("abc"));
    const pending = ix.snapshot();
    ix.dispose();
    await expect(pending).rejects.toMatchObject({ code: "disposed" });
    await expect(ix.snapshot()).rejects.toMatchObject({ code: "disposed" });
    await ix.finish(1); // resolves
    ix.output(1, 3, enc("more")); // ignored, no throw
  });
});
