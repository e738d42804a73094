// A SqlClient that passes everything through to a store and keeps a timeline of each
// top-level transaction: when it began, each statement's start and end, when it
// committed. The gaps between statements are JavaScript work done inside the
// transaction (building audit entries, hashing), the gap before the first statement is
// BEGIN (and a pool checkout), the gap after the last one is COMMIT.
import { performance } from "node:perf_hooks";
import type { SqlClient, SqlRow } from "../policies/index.js";

export interface TimedQuery {
  /** First words of the statement, whitespace collapsed. */
  text: string;
  start: number;
  end: number;
  rows: number;
}

export interface TimedTransaction {
  /** Wall clock (Date.now()) at BEGIN, to compare with grant deadlines. */
  wallStart: number;
  /** performance.now() at BEGIN, at COMMIT's end, and of each statement. */
  start: number;
  end: number;
  queries: TimedQuery[];
}

export class TimedSql implements SqlClient {
  readonly shared: boolean;
  readonly transactions: TimedTransaction[] = [];
  /** The most recently committed transaction; events published after a commit belong to it. */
  last: TimedTransaction | null = null;

  constructor(private readonly inner: SqlClient) {
    this.shared = inner.shared;
  }

  query<R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.inner.query<R>(text, params);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const record: TimedTransaction = { wallStart: Date.now(), start: performance.now(), end: NaN, queries: [] };
    const result = await this.inner.transaction((tx) => fn(joined(tx, record)));
    record.end = performance.now();
    this.transactions.push(record);
    this.last = record;
    return result;
  }
}

function joined(tx: SqlClient, record: TimedTransaction): SqlClient {
  const client: SqlClient = {
    shared: tx.shared,
    async query<R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<R[]> {
      const start = performance.now();
      const rows = await tx.query<R>(text, params);
      record.queries.push({ text: text.replace(/\s+/g, " ").trim().slice(0, 60), start, end: performance.now(), rows: rows.length });
      return rows;
    },
    // A nested call joins the outer transaction, as the stores do.
    transaction: (fn) => tx.transaction((inner) => fn(inner === tx ? client : joined(inner, record))),
  };
  return client;
}
