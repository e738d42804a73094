// What a rotator needs from the secret store and the history, kept this small so a rotator
// can be exercised against an in-memory fake and the store can change underneath it.

export type RotationTrigger = "on-demand" | "schedule" | "check-in" | "recovery";
export type RotationOutcome = "rotated" | "failed" | "recovered" | "discarded";

export interface RotationSecrets {
  /** The current value; the caller wipes the Buffer when done. */
  current(name: string): Promise<Buffer>;
  /** Stores a copy of value as a pending version and returns its number; refuses while another is pending. */
  putPending(name: string, kind: "password", value: Buffer, actor: string, reason: string): Promise<number>;
  /** Makes a pending version current; the previous current one is retired. */
  promote(name: string, version: number): Promise<void>;
  /** Marks a pending version as never applied. */
  discard(name: string, version: number): Promise<void>;
  /** The pending version and a copy of its value (the caller wipes it), if a rotation left one behind. */
  pending(name: string): Promise<{ version: number; value: Buffer } | null>;
}

/** One line of `jitgate vault history`: who, when, why, how it ended. Never a value. */
export interface RotationEntry {
  name: string;
  actor: string;
  reason: string;
  trigger: RotationTrigger;
  outcome: RotationOutcome;
  error: string | null;
  startedAt: Date;
  finishedAt: Date;
  version: number | null;
}

export interface RotationLog {
  record(entry: RotationEntry): Promise<void>;
}
