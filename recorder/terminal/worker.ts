// The rendering thread: runs the terminal indexers of every pty channel the recorder holds,
// so parsing escape sequences and reading screens never takes the thread that relays
// sessions. It receives calls in batches (worker-protocol.ts) and sends back keyframes and
// lines a few times a second, the answer to a snapshot, and the last results at a finish.
import { parentPort } from "node:worker_threads";
import { TerminalIndexer } from "./indexer.js";
import { Op, OP_SLOTS, type CallBatch, type FaultMessage, type IndexerResults, type WorkerMessage } from "./worker-protocol.js";

/** How often results are sent back; the recorder collects them once a second. */
const RESULTS_MS = 200;

const port = parentPort;
if (!port) throw new Error("recorder/terminal/worker.js runs as a worker thread");

const indexers = new Map<number, TerminalIndexer>();
/** Indexers given calls since their results were last sent. */
const busy = new Set<number>();

const send = (message: WorkerMessage) => port.postMessage(message);

function fault(error: Error | null): FaultMessage | null {
  return error ? { code: (error as { code?: string }).code ?? "render_fault", message: error.message } : null;
}

function results(id: number, indexer: TerminalIndexer): IndexerResults {
  const { keyframes, text } = indexer.take();
  return { id, keyframes, text, error: fault(indexer.takeError()) };
}

function run(batch: CallBatch): void {
  const { ops, bytes } = batch;
  for (let i = 0; i < batch.count; i++) {
    const at = i * OP_SLOTS;
    const op = ops[at] as number;
    const id = ops[at + 1] as number;
    const ts = ops[at + 2] as number;
    const a = ops[at + 3] as number;
    if (op === Op.Open) {
      const opts = batch.opens[a];
      if (opts) indexers.set(id, new TerminalIndexer(opts));
      continue;
    }
    const indexer = indexers.get(id);
    if (!indexer) continue;
    busy.add(id);
    switch (op) {
      case Op.Output:
      case Op.Input: {
        const start = ops[at + 4] as number;
        let end = start + (ops[at + 5] as number);
        if (op === Op.Output) {
          // Pieces of one stream given one after another in the same millisecond are parsed
          // as one: the screen and the lines are the same, at a fraction of the calls.
          while (i + 1 < batch.count) {
            const next = (i + 1) * OP_SLOTS;
            if (ops[next] !== Op.Output || ops[next + 1] !== id || ops[next + 2] !== ts || ops[next + 3] !== a + (end - start) || ops[next + 4] !== end) break;
            end += ops[next + 5] as number;
            i++;
          }
          indexer.output(ts, a, bytes.subarray(start, end), true);
        } else {
          indexer.input(ts, a, bytes.subarray(start, end));
        }
        break;
      }
      case Op.Resize:
        indexer.resize(ts, a, ops[at + 4] as number);
        break;
      case Op.Snapshot:
        indexer.snapshot().then(
          (keyframe) => send({ type: "snapshot", request: a, keyframe, error: null }),
          (err: unknown) => send({ type: "snapshot", request: a, keyframe: null, error: fault(err as Error) }),
        );
        break;
      case Op.Finish:
        void indexer.finish(ts).then(() => {
          busy.delete(id);
          send({ type: "finished", request: a, results: results(id, indexer) });
        });
        break;
      case Op.Dispose:
        indexer.dispose();
        indexers.delete(id);
        busy.delete(id);
        break;
    }
  }
}

port.on("message", (batch: CallBatch) => run(batch));

setInterval(() => {
  if (busy.size === 0) return;
  const out: IndexerResults[] = [];
  for (const id of busy) {
    const indexer = indexers.get(id);
    if (!indexer) {
      busy.delete(id);
      continue;
    }
    const r = results(id, indexer);
    if (r.keyframes.length > 0 || r.text.length > 0 || r.error) out.push(r);
    // Still rendering a backlog: its lines come at a later tick.
    else if (indexer.backlogBytes === 0) busy.delete(id);
  }
  if (out.length > 0) send({ type: "results", results: out });
}, RESULTS_MS).unref();
