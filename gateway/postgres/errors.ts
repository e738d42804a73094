// Why a PostgreSQL connection was turned away or ended, with the SQLSTATE the client sees.
export type PgErrorCode =
  | "PG_PROTOCOL"
  | "PG_TOO_LARGE"
  | "PG_STARTUP_INVALID"
  | "PG_UNSUPPORTED"
  | "PG_AUTH_FAILED"
  | "PG_NO_GRANT"
  | "PG_GRANT_ENDED"
  | "PG_UPSTREAM"
  | "PG_UPSTREAM_AUTH"
  | "PG_TIMEOUT"
  | "PG_CLOSED";

export class PgGatewayError extends Error {
  constructor(
    readonly code: PgErrorCode,
    /** What the client is told in its ErrorResponse. */
    readonly sqlstate: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const protocolError = (message: string) => new PgGatewayError("PG_PROTOCOL", "08P01", message);

export class PgListenError extends Error {
  readonly code = "LISTEN_FAILED";
}
