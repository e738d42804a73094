import { describe, expect, it } from "vitest";
import { TerminalIndexer } from "./indexer.js";
import type { Keyframe, TextHit } from "./model.js";
import { createScreen, screenRows, type Screen } from "./xterm.js";

const enc = (s: string) => new TextEncoder().encode(s);

function rowsOf(k: Keyframe): string[] {
  const screen = createScreen(k.cols, k.rows, 0);
  screen.parse(enc(k.screen));
  const rows = screenRows(screen.term);
  screen.term.dispose();
  return rows;
}

/** Deterministic bytes, so a failure can be replayed. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** The longest time the event loop went without running a 5 ms timer while `work` ran. */
async function longestStall(work: () => Promise<void>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return longest;
}

describe("bad input", () => {
  it("random bytes as output and input: nothing thrown, text stays valid, the screen keeps working", async () => {
    const ix = new TerminalIndexer({ cols: 80, rows: 24 });
    const bytes = noise(2 * 1024 * 1024, 7);
    for (let off = 0; off < bytes.length; off += 4096) {
      ix.output(off, off, bytes.subarray(off, off + 4096));
      ix.input(off, off, bytes.subarray(off, off + 4096));
    }
    const reset = enc("\x18\x1b\\\x07\x1bc\x1b[0m\x1b[?1049l\x1b[H\x1b[2Jstill here");
    ix.output(1e9, bytes.length, reset);
    const snap = await ix.snapshot();
    await ix.finish(1e9);
    expect(snap.offset).toBe(bytes.length + reset.length);
    expect(rowsOf(snap)[0]).toBe("still here");
    const { text } = ix.take();
    expect(text.length).toBeGreaterThan(0);
    for (const hit of text) {
      expect(hit.text).toBe(hit.text.trim());
      expect(hit.text).not.toBe("");
      expect(hit.text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
      expect(Buffer.from(hit.text, "utf8").toString("utf8")).toBe(hit.text); // no lone surrogates
    }
    expect(ix.takeError()).toBeNull();
  });

  it("every kind of escape sequence, absurd parameters included, neither throws nor stalls", async () => {
    const ix = new TerminalIndexer({ cols: 80, rows: 24 });
    const sequences = [
      "\x1b]0;" + "t".repeat(100_000) + "\x07", // long title
      "\x1b]8;;http://example.invalid\x1b\\link\x1b]8;;\x1b\\", // hyperlink
      "\x1b]52;c;" + "QUJD".repeat(50_000) + "\x07", // clipboard write
      "\x1bP1;2|" + "q".repeat(100_000) + "\x1b\\", // DCS
      "\x1bPq#0;2;0;0;0#1!100~-\x1b\\", // sixel
      "\x1b_APC\x1b\\\x1b^PM\x1b\\\x1bXSOS\x1b\\",
      "\x1b[99999999999;99999999999H", "\x1b[99999999999@", "\x1b[99999999999P", "\x1b[99999999999X",
      "A\x1b[2147483647b", "\x1b[2147483647L", "\x1b[2147483647M", "\x1b[2147483647S", "\x1b[2147483647T",
      "\x1b[2147483647I", "\x1b[2147483647Z", "\x1b[2147483647 @", "\x1b[2147483647'}",
      "\x1b[" + "9".repeat(400) + "m", "\x1b[" + "1;".repeat(50_000) + "m", "\x1b[38;2;999;999;999;48;5;9999m",
      "\x1b[1;99999999r", "\x1b[8;99999;99999t", "\x1b[?3h", "\x1b[?6h\x1b[?69h\x1b[1;99999s",
      "\x1b[?1049h", "\x1b[?1047h\x1b[?47h", "\x1b[?2004h\x1b[200~pasted\x1b[201~", "\x1b[?1000h\x1b[?1006h",
      "\x1b#8", "\x1b(0lqqk\x1b(B", "\x1b[?25l\x1b[?12h", "\x1b[6n\x1b[c\x1b[>c\x1b[?996n",
      "e\u0301\u200d👩‍👩‍👧 \u202eRTL\u202c 漢字", "\x1b[3g\x1bH\x1b[4h\x1b[?7l" + "x".repeat(200) + "\x1b[?7h\x1b[4l",
      "\x1b[40S".repeat(20_000), // every one of them real work, none absurd
      "\x1b[?1049l", "\x1b[?1047l\x1b[?47l", "\x1b]", // left open
    ];
    let off = 0;
    const stall = await longestStall(async () => {
      for (const s of sequences) {
        const d = enc(s);
        ix.output(off, off, d);
        off += d.length;
      }
      await ix.finish(1);
    });
    const end = enc("\x07\x1bc\x1b[H\x1b[2Jfine");
    ix.output(2, off, end);
    const snap = await ix.snapshot();
    expect(rowsOf(snap)[0]).toBe("fine");
    expect(snap).toMatchObject({ cols: 80, rows: 24, offset: off + end.length });
    expect(ix.takeError()).toBeNull();
    // Parsing gives way between slices of output: one counted sequence once took half a minute.
    expect(stall, `the event loop stood still for ${stall.toFixed(0)} ms`).toBeLessThan(1000);
  });

  it("absurd sizes are clamped, at construction and on resize", async () => {
    const ix = new TerminalIndexer({ cols: Number.NaN, rows: -3 });
    const sizes: [number, number][] = [
      [0, 0],
      [-5, -5],
      [100_000, 100_000],
      [Number.NaN, 40],
      [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
      [2.7, 3.9],
    ];
    const seen: [number, number][] = [];
    const first = await ix.snapshot();
    seen.push([first.cols, first.rows]);
    for (const [i, [cols, rows]] of sizes.entries()) {
      ix.resize(i, cols, rows);
      ix.output(i, i, enc("x"));
      const snap = await ix.snapshot();
      seen.push([snap.cols, snap.rows]);
    }
    // Zero or negative means "unknown" (as SSH sends it): the size stays as it was.
    expect(seen).toEqual([
      [80, 24],
      [80, 24],
      [80, 24],
      [1000, 500],
      [1000, 40],
      [1000, 40],
      [2, 3],
    ]);
    expect(ix.takeError()).toBeNull();
  });

  it("a burst of 50 MB in 64 KiB chunks given at once: skipped beyond the backlog, reported once, nothing thrown", async () => {
    const ix = new TerminalIndexer({ cols: 80, rows: 24 });
    const chunk = enc("0123456789 ".repeat(6000).replaceAll("9 0", "9\r\n0")).subarray(0, 64 * 1024);
    expect(chunk.length).toBe(64 * 1024);
    const total = 50 * 1024 * 1024;
    for (let off = 0; off < total; off += chunk.length) ix.output(off, off, chunk);
    expect(ix.backlogBytes).toBeLessThanOrEqual(16 * 1024 * 1024);
    // While the backlog is worked off, timers and I/O keep their turns.
    const stall = await longestStall(() => ix.finish(2));
    const after = enc("\x1b[H\x1b[2Jafter the burst");
    ix.output(3, total, after);
    expect(ix.takeError()).toMatchObject({ code: "output_dropped" });
    expect(ix.takeError()).toBeNull();
    const snap = await ix.snapshot();
    expect(rowsOf(snap)[0]).toBe("after the burst");
    expect(snap.offset).toBe(total + after.length);
    expect(stall, `the event loop stood still for ${stall.toFixed(0)} ms`).toBeLessThan(1000);
  });

  it("a burst of 50 MB given as fast as the backlog allows is parsed whole", async () => {
    const ix = new TerminalIndexer({ cols: 80, rows: 24, keyframeIntervalBytes: 1024 * 1024 });
    const total = 50 * 1024 * 1024;
    const keyframes: Keyframe[] = [];
    const text: TextHit[] = [];
    let line = 0;
    let pending = "";
    for (let off = 0; off < total; ) {
      while (pending.length < 64 * 1024) pending += `line ${line++} of the burst\r\n`;
      const chunk = enc(pending.slice(0, 64 * 1024));
      pending = pending.slice(64 * 1024);
      ix.output(off, off, chunk.subarray(0, Math.min(chunk.length, total - off)));
      off += chunk.length;
      // Claims what was found as it goes, as a recorder does.
      while (ix.backlogBytes > 1024 * 1024) await new Promise((r) => setImmediate(r));
      const taken = ix.take();
      keyframes.push(...taken.keyframes);
      text.push(...taken.text);
    }
    await ix.finish(1);
    expect(ix.takeError()).toBeNull();
    const taken = ix.take();
    keyframes.push(...taken.keyframes);
    text.push(...taken.text);
    expect(keyframes.length).toBeGreaterThanOrEqual(50);
    expect(text.filter((h) => h.text === "line 1000000 of the burst")).toHaveLength(1);
  }, 120_000);

  it("a fault inside xterm is caught, reported once, and the terminal goes on", async () => {
    const ix = new TerminalIndexer({ cols: 40, rows: 5 });
    const screen = (ix as unknown as { screen: Screen }).screen;
    screen.term.parser.registerCsiHandler({ final: "y" }, () => {
      throw new Error("parser fault");
    });
    ix.output(0, 0, enc("before\x1b[1y"));
    ix.output(1, 10, enc("\r\nafter"));
    const snap = await ix.snapshot();
    expect(rowsOf(snap).slice(0, 2)).toEqual(["before", "after"]);
    const error = ix.takeError();
    expect(error).toMatchObject({ code: "render_fault" });
    expect((error?.cause as Error).message).toBe("parser fault");
    expect(ix.takeError()).toBeNull();
  });

  it("nonsense arguments are taken in stride", async () => {
    const ix = new TerminalIndexer({ cols: 20, rows: 3, keyframeIntervalMs: -1, keyframeIntervalBytes: Number.NaN });
    ix.output(Number.NaN, Number.NaN, enc("a"));
    ix.output(1, -5, enc("b"));
    ix.output(2, 1.5, enc("c"));
    ix.output(3, 3, null as unknown as Uint8Array);
    ix.input(Number.POSITIVE_INFINITY, Number.NaN, "typed" as unknown as Uint8Array);
    ix.resize(Number.NaN, Number.NaN, Number.NaN);
    const snap = await ix.snapshot();
    expect(snap.offset).toBe(3);
    expect(rowsOf(snap)[0]).toBe("abc");
    ix.output(4, 10, enc("d")); // seven bytes never given: a gap, reported
    expect(ix.takeError()).toMatchObject({ code: "offset_gap" });
    expect((await ix.snapshot()).offset).toBe(11);
  });
});
