// Verification of a stored session against its hash chain: every chunk's events are read
// back, their lines rebuilt exactly as written, and each chunk's hash recomputed from the
// one before. The first chunk that does not hold is named: modified (a row changed), missing
// (events or the chunk itself gone), reordered (an intact chunk in the wrong place), inserted
// (a row that was never chained). The final digest and its signature close the chain.
import type { ClickHouseClient } from "@clickhouse/client";
import { chunkHash, digestMessage, genesis } from "./chain.js";
import { cause } from "./clickhouse.js";
import { RecorderError } from "./errors.js";
import type { RecordingVerifier } from "./ports.js";
import { num, STORED_EVENT_COLUMNS, storedRowBytes } from "./stored-events.js";

export type VerifyProblemKind = "modified" | "missing" | "reordered" | "inserted" | "truncated";

export interface VerifyProblem {
  kind: VerifyProblemKind;
  /** The chunk where it shows; null when it concerns the whole (the final digest). */
  chunk: number | null;
  seq: number | null;
  message: string;
}

export interface VerifyReport {
  sessionId: string;
  /** No problem found and no signature that fails. A live session is ok while its chunks hold. */
  ok: boolean;
  /** The final digest is stored. */
  sealed: boolean;
  live: boolean;
  chunks: number;
  events: number;
  /** Events after the last chunk: the open chunk of a live session, or the tail of one whose node stopped. */
  unchainedEvents: number;
  signature: "valid" | "invalid" | "absent" | "unknown-key";
  keyId: string | null;
  problem: VerifyProblem | null;
}

interface ChunkRow {
  chunk: number;
  first: number;
  last: number;
  events: number;
  prev: string;
  hash: string;
}

const PAGE = 50_000;

async function rows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<T[]> {
  try {
    return await (await client.query({ query, query_params: params, format: "JSONEachRow" })).json<T>();
  } catch (err) {
    throw new RecorderError("UNAVAILABLE", `ClickHouse could not answer: ${cause(err)}`, err);
  }
}

export async function verifySession(client: ClickHouseClient, db: string, sessionId: string, verifier: RecordingVerifier | null, live: boolean): Promise<VerifyReport> {
  const sid = { sid: sessionId };
  const [session] = await rows<Record<string, unknown>>(client, `SELECT digest, chunks, events, key_id, signature FROM ${db}.sessions FINAL WHERE session_id = {sid:String} LIMIT 1`, sid);
  if (!session) throw new RecorderError("NOT_FOUND", `no recording of session ${sessionId}`);
  const chunkRows = await rows<Record<string, unknown>>(client, `SELECT DISTINCT chunk, first_seq, last_seq, events, prev, hash FROM ${db}.chunks WHERE session_id = {sid:String} ORDER BY chunk, first_seq`, sid);
  const chunks: ChunkRow[] = chunkRows.map((r) => ({ chunk: num(r.chunk), first: num(r.first_seq), last: num(r.last_seq), events: num(r.events), prev: String(r.prev), hash: String(r.hash) }));
  const [extent] = await rows<Record<string, unknown>>(client, `SELECT count() AS n, max(seq) AS top FROM ${db}.events WHERE session_id = {sid:String}`, sid);
  const stored = num(extent?.n ?? 0);
  const top = stored > 0 ? num(extent?.top) : -1;

  const report: VerifyReport = {
    sessionId, ok: false, sealed: String(session.digest) !== "", live, chunks: chunks.length, events: 0, unchainedEvents: 0,
    signature: "absent", keyId: String(session.key_id) || null, problem: null,
  };
  const fail = (kind: VerifyProblemKind, chunk: number | null, seq: number | null, message: string): VerifyReport => {
    report.problem = { kind, chunk, seq, message };
    report.ok = false;
    return report;
  };

  // Rows by seq, read a page of seqs at a time; rows stored twice with the same content count once.
  let page: Map<number, { lines: Buffer[]; chunk: number }> = new Map();
  let pageFrom = -1;
  const linesOf = async (seq: number): Promise<{ lines: Buffer[]; chunk: number }> => {
    if (seq < pageFrom || seq >= pageFrom + PAGE || pageFrom < 0) {
      pageFrom = seq;
      page = new Map();
      const found = await rows<Record<string, unknown>>(
        client,
        `SELECT ${STORED_EVENT_COLUMNS} FROM ${db}.events WHERE session_id = {sid:String} AND seq >= {from:UInt64} AND seq < {to:UInt64} ORDER BY seq`,
        { sid: sessionId, from: pageFrom, to: pageFrom + PAGE },
      );
      for (const r of found) {
        const line = storedRowBytes(sessionId, r);
        const entry = page.get(num(r.seq)) ?? { lines: [], chunk: num(r.chunk) };
        if (!entry.lines.some((l) => l.equals(line))) entry.lines.push(line);
        page.set(num(r.seq), entry);
      }
    }
    return page.get(seq) ?? { lines: [], chunk: -1 };
  };

  const hashes = new Map(chunks.map((c) => [c.hash, c.chunk]));
  let prev = genesis(sessionId);
  let nextSeq = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i] as ChunkRow;
    if (c.chunk !== i) {
      if (c.chunk === i - 1) return fail("inserted", c.chunk, null, `chunk ${c.chunk} is stored twice with different content`);
      return fail("missing", i, nextSeq, `chunk ${i} is missing (the chunks stored go from ${i - 1} to ${c.chunk})`);
    }
    if (c.first !== nextSeq) {
      const instead = chunks.slice(i + 1).find((o) => o.first === nextSeq);
      if (instead || c.first < nextSeq) return fail("reordered", i, nextSeq, `chunk ${i} is out of order: it holds events ${c.first}..${c.last}, where events from ${nextSeq} belong`);
      return fail("missing", i, nextSeq, `chunk ${i} starts at event ${c.first}, but the chain stopped at ${nextSeq}: events ${nextSeq}..${c.first - 1} are missing`);
    }
    const lines: Buffer[] = [];
    for (let seq = c.first; seq <= c.last; seq++) {
      const found = await linesOf(seq);
      if (found.lines.length === 0) return fail("missing", i, seq, `chunk ${i}: event ${seq} is missing`);
      if (found.lines.length > 1) return fail("inserted", i, seq, `chunk ${i}: event ${seq} is stored ${found.lines.length} times with different content`);
      if (found.chunk !== i) return fail("reordered", i, seq, `chunk ${i} is out of order: event ${seq} in its place was written in chunk ${found.chunk}`);
      lines.push(found.lines[0] as Buffer);
    }
    if (lines.length !== c.events) return fail("modified", i, null, `chunk ${i}: its row says ${c.events} events, its range holds ${lines.length}`);
    if (c.prev !== prev) {
      const intact = chunkHash(c.prev, lines) === c.hash;
      const after = hashes.get(c.prev);
      if (intact && (after !== undefined || c.prev === genesis(sessionId))) {
        return fail("reordered", i, c.first, `chunk ${i} is out of order: it was written after ${after === undefined ? "the session's start" : `chunk ${after}`}`);
      }
      return fail("modified", i, null, `chunk ${i} does not follow chunk ${i - 1}: its link to it was changed`);
    }
    const hash = chunkHash(prev, lines);
    if (hash !== c.hash) return fail("modified", i, c.first, `chunk ${i} (events ${c.first}..${c.last}) was modified: its hash does not match`);
    prev = hash;
    nextSeq = c.last + 1;
    report.events += lines.length;
  }
  report.unchainedEvents = Math.max(0, top - nextSeq + 1);

  if (report.sealed) {
    const digest = String(session.digest);
    const sealedChunks = num(session.chunks);
    const sealedEvents = num(session.events);
    if (sealedChunks > chunks.length || sealedEvents > report.events) {
      return fail("truncated", chunks.length, nextSeq, `the session was sealed with ${sealedChunks} chunks and ${sealedEvents} events; ${chunks.length} chunks and ${report.events} events remain`);
    }
    if (report.unchainedEvents > 0) return fail("inserted", null, nextSeq, `${report.unchainedEvents} event(s) after the sealed end (from seq ${nextSeq})`);
    if (digest !== prev || sealedChunks !== chunks.length || sealedEvents !== report.events) {
      return fail("modified", null, null, "the final digest does not match the chain");
    }
    const signature = String(session.signature);
    if (signature !== "") {
      const keyId = String(session.key_id);
      const verdict = verifier ? verifier.verify(keyId, digestMessage(sessionId, digest, sealedChunks, sealedEvents), Buffer.from(signature, "base64")) : null;
      report.signature = verdict === null ? "unknown-key" : verdict ? "valid" : "invalid";
    }
  }
  if (stored === 0) return fail("missing", 0, 0, "no events of the session are stored");
  report.ok = report.signature !== "invalid";
  return report;
}
