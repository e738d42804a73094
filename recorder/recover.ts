// Sessions whose end was never recorded: the process stopped without closing them (a crash,
// a kill -9). At the next start they are ended and sealed from what was stored: events after
// the last chunk become one more chunk, hashed as they are now, so the seal vouches for the
// rows from that moment on (the reason says so). Only for a database this process has to
// itself (embedded), where no other node can hold a live session.
import type { ClickHouseClient } from "@clickhouse/client";
import { chunkHash, digestMessage, genesis } from "./chain.js";
import type { Ingest } from "./ingest.js";
import type { LogOnce } from "./log-once.js";
import { RECORDING_VERSION } from "./model.js";
import type { RecordingSigner } from "./ports.js";
import { num, STORED_EVENT_COLUMNS, storedRowBytes } from "./stored-events.js";
import { chunkLine, field, sessionLine } from "./tables.js";

export const RECOVERED_REASON = "the gateway stopped before the session ended; sealed at its next start from the events stored";

async function rows(client: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  return (await client.query({ query, query_params: params, format: "JSONEachRow" })).json<Record<string, unknown>>();
}

export async function sealUnended(client: ClickHouseClient, db: string, opts: { live: (sessionId: string) => boolean; ingest: Ingest; signer: RecordingSigner | null; log: LogOnce; now: () => number }): Promise<number> {
  const open = await rows(
    client,
    `SELECT session_id, toUnixTimestamp64Milli(started_at) AS started, protocol, grant_id, user_id, user_name, target_id, target_name, login,
            client_address, node, redact_parameters FROM ${db}.sessions FINAL WHERE isNull(ended_at)`,
    {},
  );
  let sealed = 0;
  for (const s of open) {
    const sessionId = String(s.session_id);
    if (opts.live(sessionId)) continue;
    const sid = { sid: sessionId };
    const chunks = await rows(client, `SELECT chunk, last_seq, events, hash FROM ${db}.chunks WHERE session_id = {sid:String} ORDER BY chunk LIMIT 1 BY chunk`, sid);
    const last = chunks[chunks.length - 1];
    let prev = last ? String(last.hash) : genesis(sessionId);
    let events = chunks.reduce((n, c) => n + num(c.events), 0);
    let count = chunks.length;
    const from = last ? num(last.last_seq) + 1 : 0;
    const tail = await rows(
      client,
      `SELECT ${STORED_EVENT_COLUMNS} FROM ${db}.events WHERE session_id = {sid:String} AND seq >= {from:UInt64} ORDER BY seq LIMIT 1 BY seq`,
      { ...sid, from },
    );
    const [totals] = await rows(
      client,
      `SELECT max(toUnixTimestamp64Milli(ts)) AS ended, sumIf(length(data), kind = 'output') AS out, sumIf(length(data), kind = 'input') AS inp
       FROM ${db}.events WHERE session_id = {sid:String}`,
      sid,
    );
    const escaped = field(sessionId);
    const startedAt = num(s.started);
    if (tail.length > 0) {
      const lines = tail.map((r) => storedRowBytes(sessionId, r));
      const hash = chunkHash(prev, lines);
      opts.ingest.add("chunks", chunkLine(escaped, { chunk: count, firstSeq: from, lastSeq: num(tail[tail.length - 1]?.seq), events: tail.length, prev, hash, ts: opts.now(), startedAt }));
      prev = hash;
      count++;
      events += tail.length;
    }
    let signature = "";
    let keyId = "";
    if (opts.signer) {
      signature = opts.signer.sign(digestMessage(sessionId, prev, count, events)).toString("base64");
      keyId = opts.signer.keyId;
    }
    opts.ingest.add("sessions", sessionLine({
      sessionId, version: 1, startedAt, endedAt: Math.max(startedAt, num(totals?.ended ?? startedAt)) || opts.now(), protocol: String(s.protocol),
      grantId: String(s.grant_id), userId: String(s.user_id), userName: String(s.user_name), targetId: String(s.target_id), targetName: String(s.target_name),
      login: String(s.login), clientAddress: String(s.client_address), node: String(s.node), redactParameters: num(s.redact_parameters) === 1,
      endReason: RECOVERED_REASON, events, chunks: count, bytesOut: num(totals?.out ?? 0), bytesIn: num(totals?.inp ?? 0), digest: prev, keyId, signature,
      v: RECORDING_VERSION,
    }));
    sealed++;
  }
  if (sealed > 0) opts.log.logger.warn("recording: sessions left open by an earlier run were ended and sealed", { sessions: sealed });
  return sealed;
}
