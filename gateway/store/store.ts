import type { SqlClient } from "../../policies/index.js";

/**
 * A SqlClient that can also run a script of several statements. Migrations need it:
 * PGlite's `query` (extended protocol) takes exactly one statement.
 */
export interface ScriptClient extends SqlClient {
  exec(script: string): Promise<void>;
  transaction<T>(fn: (tx: ScriptClient) => Promise<T>): Promise<T>;
}

/** The gateway's state database: embedded PGlite or a served PostgreSQL. */
export interface Store extends ScriptClient {
  readonly kind: "pglite" | "postgres";
  /**
   * Runs fn on one database session throughout, so session state (advisory locks,
   * settings) holds from one call to the next. On a pool this holds a connection.
   */
  pinned<T>(fn: (session: ScriptClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type StoreErrorCode =
  | "STORE_URL_INVALID"
  | "STORE_UNREACHABLE"
  | "STORE_MIGRATION_UNKNOWN"
  | "STORE_MIGRATION_LIST"
  | "STORE_MIGRATION_FAILED";

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "StoreError";
    this.code = code;
  }
}
