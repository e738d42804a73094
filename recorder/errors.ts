// Failures of the recorder's storage side, each with a stable code. Engines never see them:
// a recording logs its faults once. Readers (the API, the CLI) get them to report.
export type RecorderErrorCode =
  /** The ClickHouse schema is newer than this program: upgrade the gateway before reading or writing. */
  | "SCHEMA_TOO_NEW"
  /** ClickHouse refused a batch because of its content (not because it was unreachable). */
  | "BATCH_REFUSED"
  /** ClickHouse could not be reached or failed for a reason unrelated to the data. */
  | "UNAVAILABLE"
  /** The spool directory could not be read or written. */
  | "SPOOL_FAILED"
  /** A read asked for something that does not exist. */
  | "NOT_FOUND"
  /** A read's arguments were not usable (a negative limit, an unknown kind...). */
  | "INVALID_QUERY"
  /** The recorder was used after close(). */
  | "CLOSED";

export class RecorderError extends Error {
  readonly code: RecorderErrorCode;
  constructor(code: RecorderErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "RecorderError";
    this.code = code;
  }
}
