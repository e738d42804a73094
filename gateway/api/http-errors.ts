// How control-plane errors appear on the wire: a status and a JSON body {code, message}.
import { ControlError, type ErrorKind } from "../../policies/index.js";

export const STATUS_BY_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  "not-found": 404,
  conflict: 409,
  gone: 410,
  throttled: 429,
};

/** An error raised by the HTTP layer itself (body too large, wrong content type, ...). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface ErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } | null {
  if (err instanceof HttpError) {
    return { status: err.status, body: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }, headers: {} };
  }
  if (err instanceof ControlError) {
    const headers: Record<string, string> = {};
    const retry = err.details?.retryAfterSeconds;
    if (typeof retry === "number") headers["retry-after"] = String(retry);
    return { status: STATUS_BY_KIND[err.kind], body: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }, headers };
  }
  return null;
}
