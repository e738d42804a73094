import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TerminalIndexer } from "./indexer.js";
import type { Indexer, Keyframe, TextHit } from "./model.js";
import { RenderThread, workerScript } from "./render-thread.js";

const enc = (s: string) => new TextEncoder().encode(s);

/** A session's calls: output lines with colours and a clear, keystrokes, a resize. */
function drive(indexer: Indexer): void {
  let out = 0;
  let inp = 0;
  const output = (ts: number, s: string) => {
    const b = enc(s);
    indexer.output(ts, out, b);
    out += b.length;
  };
  const input = (ts: number, s: string) => {
    const b = enc(s);
    indexer.input(ts, inp, b);
    inp += b.length;
  };
  output(1000, "root@web-1:~# ");
  input(1100, "ls -l /etc\r");
  for (let i = 0; i < 200; i++) output(1200 + i, `\x1b[3${i % 8}mline ${i}\x1b[0m of the listing\r\n`);
  indexer.resize(1500, 100, 30);
  output(1600, "\x1b[H\x1b[2Jcleared screen\r\nroot@web-1:~# ");
  input(9000, "echo DROP TABLE\r");
  output(9100, "DROP TABLE\r\nroot@web-1:~# ");
}

async function finished(indexer: Indexer): Promise<{ keyframes: Keyframe[]; text: TextHit[]; error: Error | null }> {
  const keyframes: Keyframe[] = [];
  const text: TextHit[] = [];
  // Taken while it renders too, as the recording's tick does.
  const early = indexer.take();
  keyframes.push(...early.keyframes);
  text.push(...early.text);
  await indexer.finish(10_000);
  const last = indexer.take();
  keyframes.push(...last.keyframes);
  text.push(...last.text);
  const error = indexer.takeError();
  indexer.dispose();
  return { keyframes, text, error };
}

const script = workerScript();
const threads: RenderThread[] = [];
afterAll(async () => {
  await Promise.all(threads.map((t) => t.close()));
});

function thread(path = script as string, onFault: (err: Error) => void = () => {}): RenderThread {
  const t = new RenderThread(path, onFault);
  threads.push(t);
  return t;
}

describe("the rendering thread", () => {
  it("has its compiled script (npm run build writes it)", () => {
    expect(script).not.toBeNull();
  });

  it("makes the same keyframes and lines as an indexer in this thread", async () => {
    const local = new TerminalIndexer({ cols: 80, rows: 24 });
    drive(local);
    const remote = thread().open({ cols: 80, rows: 24 });
    expect(remote).not.toBeInstanceOf(TerminalIndexer);
    drive(remote);
    const [a, b] = await Promise.all([finished(local), finished(remote)]);
    expect(b.error).toBeNull();
    expect(b.text).toEqual(a.text);
    expect(b.keyframes).toEqual(a.keyframes);
    expect(b.text.map((t) => t.text)).toContain("line 199 of the listing");
    expect(b.text.filter((t) => t.source === "typed").map((t) => t.text)).toEqual(["ls -l /etc", "echo DROP TABLE"]);
  });

  it("pieces given in the same millisecond (parsed together there) give the same lines, each dated while on screen, and the same last screen", async () => {
    const local = new TerminalIndexer({ cols: 80, rows: 24 });
    const remote = thread().open({ cols: 80, rows: 24 });
    let offset = 0;
    for (let i = 0; i < 300; i++) {
      const b = enc(`\x1b[1mrow\x1b[0m ${i} ${"=".repeat(i % 90)}\r\n`);
      // Ten pieces a millisecond, as a busy session's reads come.
      local.output(5000 + Math.floor(i / 10), offset, b);
      remote.output(5000 + Math.floor(i / 10), offset, b);
      offset += b.length;
    }
    const [a, b] = await Promise.all([finished(local), finished(remote)]);
    const lines = (r: { text: TextHit[] }) => r.text.map((t) => `${t.source} ${t.text}`);
    expect(lines(b)).toEqual(lines(a));
    // A line is dated while it was on screen: from the millisecond it was written to the one it
    // scrolled off in (one piece at a time, it is read as it scrolls off; parsed together, the
    // first keyframe already shows it).
    b.text.forEach((t, i) => {
      const row = Number(/^row (\d+)/.exec(t.text)?.[1]);
      expect(t.ts).toBeGreaterThanOrEqual(5000 + Math.floor(row / 10));
      expect(t.ts).toBeLessThanOrEqual(a.text[i]?.ts as number);
    });
    expect(b.keyframes.at(-1)).toEqual(a.keyframes.at(-1));
  });

  it("answers a snapshot with the screen as of every byte given before it, while more follows", async () => {
    const t = thread();
    const remote = t.open({ cols: 40, rows: 5 });
    const local = new TerminalIndexer({ cols: 40, rows: 5 });
    let offset = 0;
    const both = (s: string) => {
      const b = enc(s);
      remote.output(1, offset, b);
      local.output(1, offset, b);
      offset += b.length;
    };
    for (let i = 0; i < 50; i++) both(`row ${i}\r\n`);
    const [wanted, got] = [local.snapshot(), remote.snapshot()];
    for (let i = 50; i < 100; i++) both(`later ${i}\r\n`);
    expect(await got).toEqual(await wanted);
    expect((await got).offset).toBe(enc(Array.from({ length: 50 }, (_, i) => `row ${i}\r\n`).join("")).length);
    remote.dispose();
    local.dispose();
  });

  it("reports a worker that fails once, ends what waited on it, and renders new channels in this thread", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jitgate-render-"));
    try {
      const broken = join(dir, "worker.mjs");
      // A worker that dies at its first batch, as a crash in the rendering code would.
      await writeFile(broken, `import { parentPort } from "node:worker_threads"; parentPort.on("message", () => { throw new Error("renderer crashed"); });`);
      const faults: string[] = [];
      const t = thread(broken, (err) => faults.push(err.message));
      const remote = t.open({ cols: 80, rows: 24 });
      remote.output(1, 0, enc("hello\r\n"));
      await expect(remote.snapshot()).rejects.toMatchObject({ code: "render_fault" });
      await remote.finish(2); // resolves although the worker is gone
      expect(remote.takeError()?.message).toMatch(/rendering thread failed: renderer crashed/);
      expect(faults).toEqual(["renderer crashed"]);
      const after = t.open({ cols: 80, rows: 24 });
      expect(after).toBeInstanceOf(TerminalIndexer);
      after.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
