// What the recorder tests share: one embedded ClickHouse per test file (chdb binds one data
// directory per process, and vitest runs each file in its own process), a fresh database per
// test, session starts, a logger that keeps its lines, and a sink that can be made to fail.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clickHouseSink, openClickHouse, type BatchPart, type ClickHouseHandle, type RecorderLogger, type RecordSink, type SessionStart } from "../recorder/index.js";
import { RecorderError } from "../recorder/index.js";

let shared: Promise<{ ch: ClickHouseHandle; dir: string }> | null = null;

/** This process's embedded ClickHouse, made on first use. */
export function embedded(): Promise<{ ch: ClickHouseHandle; dir: string }> {
  shared ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "jitgate-recorder-"));
    const ch = await openClickHouse({ path: join(dir, "clickhouse") });
    return { ch, dir };
  })();
  return shared;
}

export async function closeEmbedded(): Promise<void> {
  if (!shared) return;
  const { ch, dir } = await shared;
  shared = null;
  await ch.close();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A clock a millisecond further on at every reading: each engine call lands in a millisecond of
 * its own, so it is a row of its own (pieces of a stream in one millisecond share a row).
 */
export function tickingClock(): () => number {
  let t = Date.now();
  return () => ++t;
}

export function freshDatabase(): string {
  return `rec_${randomBytes(6).toString("hex")}`;
}

export function tempDir(prefix = "jitgate-spool-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function sessionStart(over: Partial<SessionStart> = {}): SessionStart {
  return {
    sessionId: randomUUID(),
    protocol: "ssh",
    grantId: randomUUID(),
    userId: randomUUID(),
    userName: "alice",
    targetId: randomUUID(),
    targetName: "web-1",
    login: "root",
    clientAddress: "127.0.0.1:50000",
    node: "node-a",
    startedAt: Date.now(),
    redactParameters: false,
    ...over,
  };
}

export interface LogLine {
  level: "info" | "warn" | "error";
  message: string;
  fields?: Record<string, unknown>;
}

export function keptLogger(): RecorderLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (message, fields) => lines.push({ level: "info", message, fields }),
    warn: (message, fields) => lines.push({ level: "warn", message, fields }),
    error: (message, fields) => lines.push({ level: "error", message, fields }),
  };
}

/** The real ClickHouse sink behind a switch: while `down`, every insert fails as an outage would. */
export class SwitchableSink implements RecordSink {
  down = false;
  /** Parts refused for their content: the predicate sees each part (after splitting, too). */
  refuse: ((part: BatchPart) => boolean) | null = null;
  attempts = 0;
  failures = 0;
  readonly #inner: RecordSink;

  constructor(inner: RecordSink) {
    this.#inner = inner;
  }

  static over(ch: ClickHouseHandle, database: string, localDir = tempDir("jitgate-ingest-")): SwitchableSink {
    return new SwitchableSink(clickHouseSink({ client: ch.client, database, localDir }));
  }

  async insert(part: BatchPart): Promise<void> {
    this.attempts++;
    if (this.down) {
      this.failures++;
      throw new Error("connect ECONNREFUSED 127.0.0.1:8123");
    }
    if (this.refuse?.(part)) throw new RecorderError("BATCH_REFUSED", `refused ${part.rows} row(s) of ${part.table}`);
    await this.#inner.insert(part);
  }
}

export async function count(ch: ClickHouseHandle, sql: string, params: Record<string, unknown> = {}): Promise<number> {
  const rows = await (await ch.client.query({ query: sql, query_params: params, format: "JSONEachRow" })).json<Record<string, unknown>>();
  return Number(Object.values(rows[0] ?? {})[0] ?? 0);
}
