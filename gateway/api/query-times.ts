// Times in query strings: "1h" (a duration back from now) or an ISO 8601 time.
import { parseDuration } from "../../policies/index.js";
import { HttpError } from "./http-errors.js";

export function parseSince(value: string | null, now: number): Date | undefined {
  if (!value) return undefined;
  if (/^\d+[a-z]/.test(value)) {
    try {
      return new Date(now - parseDuration(value));
    } catch (err) {
      throw new HttpError(400, "INVALID_QUERY", (err as Error).message);
    }
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new HttpError(400, "INVALID_QUERY", `${JSON.stringify(value)} is neither a duration (1h) nor a time (2026-01-31T12:00:00Z)`);
  return new Date(t);
}
