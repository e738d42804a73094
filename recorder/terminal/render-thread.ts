// The recorder's side of the rendering thread (worker.ts): one worker for every pty channel
// of this node, reached through stand-in indexers. A call costs the session's thread a copy
// of its bytes into the batch being filled; the batch goes to the worker once per turn of
// the event loop (or sooner when large), without copying. Should the worker die, its
// channels stop being rendered (their bytes are recorded all the same), the fault is
// reported once, and channels opened afterwards are rendered in this thread.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { TerminalError, type TerminalErrorCode } from "./errors.js";
import { TerminalIndexer } from "./indexer.js";
import type { Indexer, Keyframe, TerminalIndexerOptions, TextHit } from "./model.js";
import { Op, OP_SLOTS, type CallBatch, type FaultMessage, type IndexerResults, type WorkerMessage } from "./worker-protocol.js";

/** A batch is sent at once when its bytes reach this. */
const SEND_BYTES = 1 << 20;
const FIRST_OPS = 1024;

/**
 * The compiled worker beside this file; from the TypeScript sources (tests), the one the build
 * wrote under dist/. Null when neither exists.
 */
export function workerScript(): string | null {
  const beside = fileURLToPath(new URL("./worker.js", import.meta.url));
  if (existsSync(beside)) return beside;
  const built = beside.replace(/([\\/])recorder([\\/])terminal([\\/])worker\.js$/, "$1dist$1recorder$2terminal$3worker.js");
  return built !== beside && existsSync(built) ? built : null;
}

function terminalError(fault: FaultMessage): TerminalError {
  return new TerminalError(fault.code as TerminalErrorCode, fault.message);
}

export class RenderThread {
  #worker: Worker;
  #dead: Error | null = null;
  #onFault: (err: Error) => void;
  #indexers = new Map<number, RemoteIndexer>();
  #nextId = 1;
  #nextRequest = 1;
  #snapshots = new Map<number, { resolve: (k: Keyframe) => void; reject: (e: Error) => void }>();
  #finishes = new Map<number, () => void>();

  #ops = new Float64Array(FIRST_OPS * OP_SLOTS);
  #count = 0;
  #bytes = new Uint8Array(64 * 1024);
  #used = 0;
  #opens: TerminalIndexerOptions[] = [];
  #scheduled = false;

  /** `onFault` hears once if the worker fails. */
  constructor(script: string, onFault: (err: Error) => void) {
    this.#onFault = onFault;
    this.#worker = new Worker(script);
    this.#worker.unref();
    this.#worker.on("message", (m: WorkerMessage) => this.#receive(m));
    this.#worker.on("error", (err) => this.#die(err));
    this.#worker.on("exit", (code) => this.#die(new Error(`the rendering thread exited with code ${code}`)));
  }

  /** An indexer on the worker, or in this thread once the worker has failed. */
  open(opts: TerminalIndexerOptions): Indexer {
    if (this.#dead) return new TerminalIndexer(opts);
    const indexer = new RemoteIndexer(this, this.#nextId++);
    this.#indexers.set(indexer.id, indexer);
    this.#opens.push(opts);
    this.call(Op.Open, indexer.id, 0, this.#opens.length - 1, 0, 0);
    return indexer;
  }

  async close(): Promise<void> {
    this.#die(null);
    await this.#worker.terminate();
  }

  call(op: number, id: number, ts: number, a: number, b: number, c: number): void {
    if (this.#dead) return;
    if ((this.#count + 1) * OP_SLOTS > this.#ops.length) {
      const bigger = new Float64Array(this.#ops.length * 2);
      bigger.set(this.#ops);
      this.#ops = bigger;
    }
    const at = this.#count++ * OP_SLOTS;
    const ops = this.#ops;
    ops[at] = op;
    ops[at + 1] = id;
    ops[at + 2] = ts;
    ops[at + 3] = a;
    ops[at + 4] = b;
    ops[at + 5] = c;
    this.#schedule();
  }

  bytes(op: number, id: number, ts: number, offset: number, data: Uint8Array): void {
    if (this.#dead) return;
    if (this.#used + data.length > this.#bytes.length) {
      const bigger = new Uint8Array(Math.max(this.#bytes.length * 2, this.#used + data.length));
      bigger.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = bigger;
    }
    this.#bytes.set(data, this.#used);
    this.call(op, id, ts, offset, this.#used, data.length);
    this.#used += data.length;
    if (this.#used >= SEND_BYTES) this.#send();
  }

  snapshot(id: number): Promise<Keyframe> {
    if (this.#dead) return Promise.reject(new TerminalError("render_fault", "the rendering thread is not running"));
    const request = this.#nextRequest++;
    this.#worker.ref();
    return new Promise((resolve, reject) => {
      this.#snapshots.set(request, { resolve, reject });
      this.call(Op.Snapshot, id, 0, request, 0, 0);
    });
  }

  finish(id: number, ts: number): Promise<void> {
    if (this.#dead) return Promise.resolve();
    const request = this.#nextRequest++;
    this.#worker.ref();
    return new Promise((resolve) => {
      this.#finishes.set(request, resolve);
      this.call(Op.Finish, id, ts, request, 0, 0);
    });
  }

  dispose(id: number): void {
    if (!this.#indexers.delete(id)) return;
    this.call(Op.Dispose, id, 0, 0, 0, 0);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#send());
  }

  #send(): void {
    this.#scheduled = false;
    if (this.#count === 0 || this.#dead) return;
    const batch: CallBatch = { ops: this.#ops, count: this.#count, bytes: this.#bytes.subarray(0, this.#used), opens: this.#opens };
    this.#worker.postMessage(batch, [this.#ops.buffer, this.#bytes.buffer]);
    this.#ops = new Float64Array(Math.max(FIRST_OPS, this.#count) * OP_SLOTS);
    this.#bytes = new Uint8Array(Math.max(64 * 1024, this.#used));
    this.#count = 0;
    this.#used = 0;
    this.#opens = [];
  }

  #receive(m: WorkerMessage): void {
    if (m.type === "results") {
      for (const r of m.results) this.#indexers.get(r.id)?.receive(r);
    } else if (m.type === "snapshot") {
      const waiting = this.#snapshots.get(m.request);
      this.#snapshots.delete(m.request);
      if (m.keyframe) waiting?.resolve(m.keyframe);
      else waiting?.reject(terminalError(m.error ?? { code: "render_fault", message: "no screen" }));
    } else if (m.type === "finished") {
      this.#indexers.get(m.results.id)?.receive(m.results);
      const done = this.#finishes.get(m.request);
      this.#finishes.delete(m.request);
      done?.();
    }
    // Waiting for an answer keeps the process up; an idle worker does not.
    if (this.#snapshots.size === 0 && this.#finishes.size === 0) this.#worker.unref();
  }

  #die(err: Error | null): void {
    if (this.#dead) return;
    this.#dead = err ?? new Error("the rendering thread was closed");
    if (err) this.#onFault(err);
    const reason = new TerminalError("render_fault", "the rendering thread is not running", err ?? undefined);
    for (const s of this.#snapshots.values()) s.reject(reason);
    for (const done of this.#finishes.values()) done();
    this.#snapshots.clear();
    this.#finishes.clear();
    if (err) for (const indexer of this.#indexers.values()) indexer.receive({ id: indexer.id, keyframes: [], text: [], error: { code: "render_fault", message: `the rendering thread failed: ${err.message}` } });
  }
}

/** Stands in for an indexer on the rendering thread; holds what it sent back until take(). */
class RemoteIndexer implements Indexer {
  readonly id: number;
  #thread: RenderThread;
  #keyframes: Keyframe[] = [];
  #text: TextHit[] = [];
  #error: TerminalError | null = null;
  #disposed = false;

  constructor(thread: RenderThread, id: number) {
    this.#thread = thread;
    this.id = id;
  }

  output(ts: number, offset: number, data: Uint8Array): void {
    if (!this.#disposed && data instanceof Uint8Array && data.length > 0) this.#thread.bytes(Op.Output, this.id, ts, offset, data);
  }

  input(ts: number, offset: number, data: Uint8Array): void {
    if (!this.#disposed && data instanceof Uint8Array && data.length > 0) this.#thread.bytes(Op.Input, this.id, ts, offset, data);
  }

  resize(ts: number, cols: number, rows: number): void {
    if (!this.#disposed) this.#thread.call(Op.Resize, this.id, ts, cols, rows, 0);
  }

  snapshot(): Promise<Keyframe> {
    if (this.#disposed) return Promise.reject(new TerminalError("disposed", "the terminal indexer was disposed"));
    return this.#thread.snapshot(this.id);
  }

  finish(ts: number): Promise<void> {
    return this.#disposed ? Promise.resolve() : this.#thread.finish(this.id, ts);
  }

  take(): { keyframes: Keyframe[]; text: TextHit[] } {
    const taken = { keyframes: this.#keyframes, text: this.#text };
    this.#keyframes = [];
    this.#text = [];
    return taken;
  }

  takeError(): TerminalError | null {
    const error = this.#error;
    this.#error = null;
    return error;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#thread.dispose(this.id);
  }

  receive(r: IndexerResults): void {
    for (const k of r.keyframes) this.#keyframes.push(k);
    for (const t of r.text) this.#text.push(t);
    if (r.error) this.#error ??= terminalError(r.error);
  }
}
