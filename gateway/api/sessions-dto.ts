// What the sessions API answers: shared by its routes and the CLI so the two cannot drift.
// Times of sessions are ISO strings like the rest of the API; event times stay epoch ms
// (a replay computes with them), and terminal bytes travel as base64.
import type { RecordedEvent, SessionSummary as StoredSummary, SearchHit as StoredHit, VerifyReport } from "../../recorder/index.js";

export type SessionSummary = Omit<StoredSummary, "sessionId" | "startedAt" | "endedAt"> & { id: string; startedAt: string; endedAt: string | null };

export type SearchHit = Omit<StoredHit, "ts"> & { at: string };

type Encoded<E> = E extends { data: Uint8Array } ? Omit<E, "data"> & { data: string } : E;
export type EventDto = Encoded<RecordedEvent>;

export interface EventPage {
  events: EventDto[];
  /** Pass as afterSeq for the next page; null at the end. */
  next: number | null;
}

export interface TerminalInfo {
  channel: number;
  type: string;
  command: string | null;
  term: string;
  cols: number;
  rows: number;
}

export interface TerminalEventDto {
  ts: number;
  kind: "output" | "input" | "resize";
  /** base64 */
  data?: string;
  cols?: number;
  rows?: number;
}

export interface TerminalPage {
  channel: number;
  cols: number;
  rows: number;
  events: TerminalEventDto[];
  next: number | null;
}

export type { VerifyReport };

export function sessionDto(s: StoredSummary): SessionSummary {
  const { sessionId, startedAt, endedAt, ...rest } = s;
  return { id: sessionId, ...rest, startedAt: new Date(startedAt).toISOString(), endedAt: endedAt === null ? null : new Date(endedAt).toISOString() };
}

export function eventDto(e: RecordedEvent): EventDto {
  return "data" in e ? { ...e, data: Buffer.from(e.data).toString("base64") } : e;
}
