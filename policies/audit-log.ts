// The audit log: one hash chain over every control-plane fact, appended inside the
// transaction of the action it records, so an action and its audit row commit or vanish
// together. The chain proves internal consistency only: anyone who can write the table can
// also recompute every hash after a forgery. What catches a full rewrite, or rows cut from
// the tail, is comparing `verify().headHash` and `count` with a value kept elsewhere.
import { createHash, randomUUID } from "node:crypto";
import { AUDIT_EVENT_VERSION, isAuditEventType, type AuditEvent } from "./audit-events.js";
import { canonicalJson } from "./canonical-json.js";
import { invalid } from "./errors.js";
import type { Clock, SqlClient, SqlRow } from "./ports.js";

export const GENESIS_HASH = "0".repeat(64);
// "jitgaudt" in ASCII; every node must use the same key, and no other lock in the product.
const APPEND_LOCK_KEY = "7667787827940516980";
// Ten parameters a row: 500 rows stay far below PostgreSQL's 65535 parameters a statement.
const INSERT_BATCH = 1000;
const VERIFY_PAGE = 1000;
const MAX_PROBLEMS = 100;
// Finding where a moved row came from may scan the table; a badly damaged log must not
// turn verify into hours of scans, so past this many the rows are just called edited.
const LOOKUP_BUDGET = 50;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

export type AuditEntry = { actor: string; target?: string | null } & AuditEvent;

export type AuditRecord = {
  seq: number;
  id: string;
  at: Date;
  version: number;
  actor: string;
  target: string | null;
  prevHash: string;
  hash: string;
} & AuditEvent;

export interface AuditQuery {
  /** Inclusive. */
  since?: Date;
  /** Exclusive. */
  until?: Date;
  actor?: string;
  target?: string;
  /** An exact type, or a prefix ending in "." such as "grant.". */
  type?: string;
  afterSeq?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

export type AuditProblemKind = "edited" | "inserted" | "deleted" | "reordered";
export type AuditProblem = { seq: number; problem: AuditProblemKind; message: string };
export type AuditVerification = { ok: boolean; count: number; headHash: string; problems: AuditProblem[] };

/** The fields a row's hash covers, chained to the row before through prevHash. */
export function auditHash(prevHash: string, r: Omit<AuditRecord, "prevHash" | "hash">): string {
  return hashWithData(prevHash, r, canonicalJson(r.data));
}

// The same bytes canonicalJson would give for the whole row (keys in sorted order), built
// around the data's canonical form so a batch of thousands serialises each payload once.
function hashWithData(prevHash: string, r: Omit<AuditRecord, "prevHash" | "hash" | "data">, dataJson: string): string {
  const at = r.at instanceof Date ? r.at.toISOString() : r.at;
  const content =
    `{"actor":${JSON.stringify(r.actor)},"at":${JSON.stringify(at)},"data":${dataJson},"id":${JSON.stringify(r.id)},` +
    `"seq":${JSON.stringify(r.seq)},"target":${JSON.stringify(r.target)},"type":${JSON.stringify(r.type)},"version":${JSON.stringify(r.version)}}`;
  return createHash("sha256").update(prevHash + content).digest("hex");
}

const COLUMNS = "seq, id, at, type, version, actor, target, data, prev_hash, hash";

// seq is a string from `pg` and a number from PGlite; at may be a Date or text.
interface AuditRow extends SqlRow {
  seq: unknown;
  at: unknown;
  version: unknown;
  id: string;
  type: string;
  actor: string;
  target: string | null;
  data: unknown;
  prev_hash: string;
  hash: string;
}

export class AuditLog {
  private readonly sql: SqlClient;
  private readonly clock: Clock;

  constructor(deps: { sql: SqlClient; clock: Clock }) {
    this.sql = deps.sql;
    this.clock = deps.clock;
  }

  /** Appends within tx; opens a transaction of its own only when tx is not in one. */
  async append(tx: SqlClient, entry: AuditEntry): Promise<AuditRecord> {
    const [record] = await this.appendAll(tx, [entry]);
    if (!record) throw new Error("audit append wrote no row");
    return record;
  }

  /** One lock and a few multi-row INSERTs for a batch, in the order given. */
  async appendAll(tx: SqlClient, entries: readonly AuditEntry[]): Promise<AuditRecord[]> {
    if (entries.length === 0) return [];
    const prepared = entries.map(prepare);
    return tx.transaction(async (t) => {
      // Held to the end of the caller's transaction: the next appender reads the head only
      // after this one commits. Under READ COMMITTED (the default) that read sees the new
      // head; a caller in REPEATABLE READ would see a stale one and fail on the seq key.
      await t.query(`SELECT pg_advisory_xact_lock(${APPEND_LOCK_KEY})`);
      const [head] = await t.query<{ seq: unknown; hash: string }>(
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
      );
      let seq = head ? Number(head.seq) : 0;
      let prevHash = head ? head.hash : GENESIS_HASH;
      // Milliseconds only: timestamptz keeps them exactly, so the row re-hashes as written.
      const at = new Date(Math.floor(this.clock.now()));
      const records = prepared.map(({ dataJson, ...p }) => {
        seq += 1;
        const body = { seq, id: randomUUID(), at, version: AUDIT_EVENT_VERSION, ...p };
        const hash = hashWithData(prevHash, body, dataJson);
        const record = { ...body, prevHash, hash } as AuditRecord;
        prevHash = hash;
        return { record, dataJson };
      });
      for (let i = 0; i < records.length; i += INSERT_BATCH) {
        await insert(t, records.slice(i, i + INSERT_BATCH));
      }
      return records.map((r) => r.record);
    });
  }

  async query(filter: AuditQuery = {}): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: (param: string) => string, value: unknown) => {
      params.push(value);
      where.push(clause(`$${params.length}`));
    };
    if (filter.since !== undefined) add((p) => `at >= ${p}::timestamptz`, isoOf(filter.since, "since"));
    if (filter.until !== undefined) add((p) => `at < ${p}::timestamptz`, isoOf(filter.until, "until"));
    if (filter.actor !== undefined) add((p) => `actor = ${p}`, filter.actor);
    if (filter.target !== undefined) add((p) => `target = ${p}`, filter.target);
    if (filter.type) {
      const type = filter.type;
      // "_" is a LIKE wildcard and appears in real types (auth.login_failed).
      if (type.endsWith(".")) add((p) => `type LIKE ${p}`, `${type.replace(/[\\%_]/g, "\\$&")}%`);
      else add((p) => `type = ${p}`, type);
    }
    if (filter.afterSeq !== undefined) {
      if (!Number.isSafeInteger(filter.afterSeq) || filter.afterSeq < 0) {
        throw invalid("AUDIT_QUERY_INVALID", "afterSeq must be a non-negative integer");
      }
      add((p) => `seq > ${p}::bigint`, filter.afterSeq);
    }
    const limit = filter.limit ?? DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw invalid("AUDIT_QUERY_INVALID", `limit must be an integer from 1 to ${MAX_LIMIT}`);
    }
    const conditions = where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "";
    const text = `SELECT ${COLUMNS} FROM audit_events${conditions} ORDER BY seq LIMIT ${limit}`;
    return (await this.sql.query<AuditRow>(text, params)).map(toRecord);
  }

  /**
   * Walks the whole log in seq order and names each damaged row. Every row is compared
   * with the row before it (a genesis row of seq 0 before the first):
   * - a seq gap is "deleted", named by the first missing seq;
   * - a row whose content does not hash to its stored hash is "reordered" when it does hash
   *   correctly under another seq, the one after the row its prev_hash names (it was moved:
   *   seq is part of the hash, so a row cannot change place unnoticed), else "edited";
   * - a row that hashes correctly but whose prev_hash is not the previous row's hash was
   *   computed by someone outside the log: "inserted". When a forger chains a row correctly
   *   to its predecessor, the break shows at the row after it, and that row is named.
   * The row after a gap or a damaged row is not link-checked, so one break is one problem.
   */
  async verify(): Promise<AuditVerification> {
    const problems: AuditProblem[] = [];
    const report = (seq: number, problem: AuditProblemKind, message: string) => {
      if (problems.length < MAX_PROBLEMS) problems.push({ seq, problem, message });
    };
    let prev: AuditRecord | undefined;
    let prevDamaged = false;
    let count = 0;
    let lookups = LOOKUP_BUDGET;
    let page: AuditRecord[] = [];
    const findByHash = async (hash: string): Promise<AuditRecord | undefined> => {
      const near = page.find((r) => r.hash === hash) ?? (prev?.hash === hash ? prev : undefined);
      if (near || lookups <= 0) return near;
      lookups -= 1;
      const [row] = await this.sql.query<AuditRow>(`SELECT ${COLUMNS} FROM audit_events WHERE hash = $1 LIMIT 1`, [hash]);
      return row ? toRecord(row) : undefined;
    };
    // The seq a row was written at: one after where its predecessor was written.
    const writtenAt = async (row: AuditRecord, depth: number): Promise<number | null> => {
      if (rehashes(row, row.seq)) return row.seq;
      if (depth === 0) return null;
      let before: number | null = 0;
      if (row.prevHash !== GENESIS_HASH) {
        const predecessor = await findByHash(row.prevHash);
        before = predecessor ? await writtenAt(predecessor, depth - 1) : null;
      }
      return before !== null && rehashes(row, before + 1) ? before + 1 : null;
    };

    for (;;) {
      const text = `SELECT ${COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT ${VERIFY_PAGE}`;
      page = (await this.sql.query<AuditRow>(text, [prev?.seq ?? 0])).map(toRecord);
      for (const row of page) {
        count += 1;
        const expected = (prev?.seq ?? 0) + 1;
        const gap = row.seq !== expected;
        if (gap) {
          const range = row.seq - 1 > expected ? `seqs ${expected} to ${row.seq - 1} are` : `seq ${expected} is`;
          report(expected, "deleted", `${range} missing before seq ${row.seq}`);
        }
        let damaged = false;
        if (!rehashes(row, row.seq)) {
          damaged = true;
          const from = problems.length < MAX_PROBLEMS ? await writtenAt(row, 4) : null;
          if (from !== null && from !== row.seq) {
            report(row.seq, "reordered", `seq ${row.seq} holds the event written as seq ${from}`);
          } else {
            report(row.seq, "edited", `seq ${row.seq} no longer matches its hash: its content was changed`);
          }
        } else if (!gap && !prevDamaged && row.prevHash !== (prev?.hash ?? GENESIS_HASH)) {
          damaged = true;
          report(row.seq, "inserted", `seq ${row.seq} is self-consistent but does not chain to seq ${expected - 1}`);
        }
        prev = row;
        prevDamaged = damaged;
      }
      if (page.length < VERIFY_PAGE) break;
    }
    return { ok: problems.length === 0, count, headHash: prev?.hash ?? GENESIS_HASH, problems };
  }
}

function rehashes(row: AuditRecord, seq: number): boolean {
  return auditHash(row.prevHash, { ...row, seq }) === row.hash;
}

type Prepared = Pick<AuditRecord, "type" | "actor" | "target" | "data"> & { dataJson: string };

// Validates and normalises before the lock is taken, and makes the data exactly what jsonb
// will hand back (no undefined, no Date, no text PostgreSQL refuses), so it re-hashes alike.
function prepare(entry: AuditEntry): Prepared {
  if (!isAuditEventType(entry.type)) throw invalid("AUDIT_UNKNOWN_TYPE", `unknown audit event type "${entry.type}"`);
  if (typeof entry.actor !== "string" || entry.actor === "") throw invalid("AUDIT_NO_ACTOR", "an audit event needs an actor");
  const data = clean(JSON.parse(canonicalJson(entry.data)));
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw invalid("AUDIT_BAD_DATA", `audit event "${entry.type}" needs an object as data`);
  }
  const target = entry.target === undefined || entry.target === null ? null : cleanText(entry.target);
  return { type: entry.type, actor: cleanText(entry.actor), target, data, dataJson: canonicalJson(data) } as Prepared;
}

// PostgreSQL text and jsonb refuse NUL and unpaired surrogates; both can arrive from a
// client (a login name), and an audit row must not fail the action it records.
function cleanText(s: string): string {
  return s.replaceAll("\0", "\uFFFD").replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

function clean(value: unknown): unknown {
  if (typeof value === "string") return cleanText(value);
  if (Array.isArray(value)) return value.map(clean);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [cleanText(k), clean(v)]));
  }
  return value;
}

// Ten array parameters instead of ten per row: the statement's size and its parse cost
// stay flat however large the batch.
async function insert(tx: SqlClient, rows: { record: AuditRecord; dataJson: string }[]): Promise<void> {
  const cols: unknown[][] = Array.from({ length: 10 }, () => []);
  for (const { record: r, dataJson } of rows) {
    const values = [r.seq, r.id, r.at.toISOString(), r.type, r.version, r.actor, r.target, dataJson, r.prevHash, r.hash];
    values.forEach((v, i) => cols[i]?.push(v));
  }
  await tx.query(
    `INSERT INTO audit_events (${COLUMNS})
     SELECT s, i, a, t, v, ac, tg, d::jsonb, p, h
     FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::integer[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
       AS x(s, i, a, t, v, ac, tg, d, p, h)`,
    cols,
  );
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    seq: Number(row.seq),
    id: row.id,
    at: row.at instanceof Date ? row.at : new Date(String(row.at)),
    type: row.type,
    version: Number(row.version),
    actor: row.actor,
    target: row.target ?? null,
    data: row.data,
    prevHash: row.prev_hash,
    hash: row.hash,
  } as AuditRecord;
}

function isoOf(value: Date, name: string): string {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw invalid("AUDIT_QUERY_INVALID", `${name} must be a valid date`);
  }
  return value.toISOString();
}
