// What terminal rendering costs: memory per idle indexer (the SSH engine's budget is 1 MiB per
// idle recorded session with 500 open) and output parsed per second, for plain scrolling
// text and for full-screen redraws. CPU seconds are given too: on a shared machine the wall
// clock measures the neighbours as much as the parser.
//
//   node --expose-gc dist/recorder/terminal/measure.js [--indexers N] [--mb N] [--cols N] [--rows N]
import { performance } from "node:perf_hooks";
import { TerminalIndexer } from "./indexer.js";
import { createScreen } from "./xterm.js";

const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set((process.argv[i] ?? "").replace(/^--/, ""), process.argv[i + 1] ?? "");
const indexers = Number(args.get("indexers") ?? 500);
const megabytes = Number(args.get("mb") ?? 50);
const cols = Number(args.get("cols") ?? 120);
const rows = Number(args.get("rows") ?? 40);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error("run with node --expose-gc");
  process.exit(2);
}

const enc = (s: string) => new TextEncoder().encode(s);
const used = () => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

async function idleMemory(): Promise<void> {
  const before = used();
  const all: TerminalIndexer[] = [];
  const login = enc("Last login: Mon Mar  3 10:00:00 2025 from 10.0.0.1\r\n" + "motd line of text here\r\n".repeat(40) + "root@web-1:~# ");
  for (let i = 0; i < indexers; i++) {
    const ix = new TerminalIndexer({ cols, rows });
    ix.output(0, 0, login);
    ix.input(1, 0, enc("ls\r"));
    all.push(ix);
  }
  await Promise.all(all.map((ix) => ix.finish(2)));
  for (const ix of all) ix.take();
  const after = used();
  console.log(`idle indexers: ${indexers} at ${cols}x${rows} after a login screen: ${((after - before) / indexers / 1024).toFixed(1)} KiB each, ${((after - before) / 1024 / 1024).toFixed(1)} MiB in all`);
  for (const ix of all) ix.dispose();
}

/** Parses `megabytes` of `make`'s output through the indexer, and through a bare xterm for comparison. */
async function throughput(name: string, make: (i: number) => string): Promise<void> {
  const total = megabytes * 1024 * 1024;
  const chunks: Uint8Array[] = [];
  for (let size = 0, i = 0; size < 8 * 1024 * 1024; i++) {
    const c = enc(make(i)).subarray(0, 64 * 1024);
    chunks.push(c);
    size += c.length;
  }

  const bare = createScreen(cols, rows, 8);
  const bareCpu = process.cpuUsage();
  for (let off = 0, i = 0; off < total; i++) {
    const chunk = chunks[i % chunks.length] as Uint8Array;
    bare.parse(chunk);
    off += chunk.length;
  }
  const bareSeconds = cpuSeconds(bareCpu);
  bare.term.dispose();

  const ix = new TerminalIndexer({ cols, rows });
  let hits = 0;
  let keyframes = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  for (let off = 0, i = 0; off < total; i++) {
    const chunk = chunks[i % chunks.length] as Uint8Array;
    ix.output(i, off, chunk);
    off += chunk.length;
    while (ix.backlogBytes > 4 * 1024 * 1024) await new Promise((r) => setImmediate(r));
    const taken = ix.take();
    hits += taken.text.length;
    keyframes += taken.keyframes.length;
  }
  await ix.finish(1e9);
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(cpuStart);
  const taken = ix.take();
  hits += taken.text.length;
  keyframes += taken.keyframes.length;
  console.log(
    `${name}: ${megabytes} MB in ${seconds.toFixed(2)} s = ${(megabytes / seconds).toFixed(1)} MB/s; ` +
      `${(megabytes / cpu).toFixed(1)} MB per CPU second against ${(megabytes / bareSeconds).toFixed(1)} for xterm alone ` +
      `(${hits} text lines, ${keyframes} keyframes${ix.takeError() ? ", with a fault" : ""})`,
  );
  ix.dispose();
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

await idleMemory();
let n = 0;
await throughput("scrolling text, 80-byte lines", () => {
  let s = "";
  while (s.length < 64 * 1024) s += `${String(n++).padStart(8, "0")} the quick brown fox jumps over the lazy dog; SELECT * FROM t;\r\n`;
  return s;
});
await throughput("full-screen redraws in colour", (i) => {
  let s = "\x1b[H";
  while (s.length < 64 * 1024) for (let y = 1; y <= 40; y++) s += `\x1b[${y};1H\x1b[3${(y + i) % 8}m${String(y * i).padEnd(100, ".")}\x1b[0m\x1b[K`;
  return s;
});
