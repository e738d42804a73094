// What the recorder needs from outside: a logger, a place to put batches (ClickHouse in
// production; tests wrap it to make it fail), and optionally a key to sign final digests.
// The gateway hands in the implementations; nothing here depends on another library.

export interface RecorderLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The tables a batch writes to. */
export type TableName = "events" | "sessions" | "chunks" | "keyframes" | "text";

/** How a part's rows are written: RowBinary, or TabSeparated lines each ended by "\n". */
export type RowFormat = "RowBinary" | "TabSeparated";

/** One table's share of a batch. */
export interface BatchPart {
  table: TableName;
  format: RowFormat;
  /** Deterministic from the content: a replayed part is recognised and not stored twice. */
  token: string;
  rows: number;
  body: Buffer;
}

/**
 * Where batches go. insert() resolves once the part is stored. It rejects with a
 * RecorderError of code BATCH_REFUSED when the content itself is refused (the recorder then
 * splits the part to keep every row it can); any other rejection means the store is
 * unavailable, and the part goes to the spool until it is back.
 */
export interface RecordSink {
  insert(part: BatchPart): Promise<void>;
}

/** Signs a session's final digest. Ed25519 in the gateway; the key stays in the vault. */
export interface RecordingSigner {
  readonly keyId: string;
  sign(data: Buffer): Buffer;
}

/** Checks a final digest's signature: true/false, or null when the key id is not known. */
export interface RecordingVerifier {
  verify(keyId: string, data: Buffer, signature: Buffer): boolean | null;
}
