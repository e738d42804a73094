// The messages between the recorder and its rendering thread. Calls travel in batches, one
// per turn of the event loop: numbers in a Float64Array (OP_SLOTS per call) and every
// call's bytes in one buffer, both handed over without copying. A batch keeps the calls in
// the order they were made, so a snapshot or a finish sees exactly the bytes given before it.
import type { Keyframe, TerminalIndexerOptions, TextHit } from "./model.js";

export const OP_SLOTS = 6;

/** Slot 0 of a call; the other slots are: id, ts, then per call (a, b, c). */
export const Op = {
  /** a: the index of its options in `opens`. */
  Open: 1,
  /** a: stream offset, b: start in `bytes`, c: length. */
  Output: 2,
  Input: 3,
  /** a: cols, b: rows. */
  Resize: 4,
  /** a: request number. */
  Snapshot: 5,
  /** a: request number. */
  Finish: 6,
  Dispose: 7,
} as const;

export interface CallBatch {
  ops: Float64Array;
  /** How many calls `ops` holds (it may be longer). */
  count: number;
  bytes: Uint8Array;
  opens: TerminalIndexerOptions[];
}

export interface FaultMessage {
  code: string;
  message: string;
}

export interface IndexerResults {
  id: number;
  keyframes: Keyframe[];
  text: TextHit[];
  error: FaultMessage | null;
}

export type WorkerMessage =
  | { type: "results"; results: IndexerResults[] }
  | { type: "snapshot"; request: number; keyframe: Keyframe | null; error: FaultMessage | null }
  /** Sent once the indexer has rendered everything; `results` are its last. */
  | { type: "finished"; request: number; results: IndexerResults };
