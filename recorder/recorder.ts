// The recorder of one gateway node: opens a recording per session, runs the shared ingest
// into ClickHouse (with the spool for outages), and knows this node's live sessions for
// watching.
import type { ClickHouseClient } from "@clickhouse/client";
import { DEFAULT_CHAIN_LIMITS, type ChainLimits } from "./chain.js";
import { cause, clickHouseSink } from "./clickhouse.js";
import { RecorderError } from "./errors.js";
import { DEFAULT_INGEST_LIMITS, Ingest, type IngestLimits, type IngestStats } from "./ingest.js";
import type { LiveListener, LiveSubscription } from "./live.js";
import { LogOnce } from "./log-once.js";
import type { SessionRecorder, SessionRecording, SessionStart } from "./model.js";
import type { RecorderLogger, RecordingSigner, RecordSink } from "./ports.js";
import { Recording } from "./recording.js";
import { sealUnended } from "./recover.js";
import { checkDatabaseName, DEFAULT_RETENTION_DAYS, migrate } from "./schema.js";
import { Spool } from "./spool.js";
import { RenderThread, TerminalIndexer, workerScript, type Indexer, type TerminalIndexerOptions } from "./terminal/index.js";

export interface RecorderOptions {
  client: ClickHouseClient;
  /** Default "jitgate". */
  database?: string;
  logger: RecorderLogger;
  /** Where batches wait while ClickHouse is unavailable. */
  spoolDir: string;
  /**
   * Embedded ClickHouse only: a directory for the files inserts are read from (much faster
   * than rows inline with chdb). Null (the default): rows go inline, as to a server.
   */
  localInsertDir?: string | null;
  /** Replaces the ClickHouse sink (tests wrap it to make it fail for a while). */
  sink?: RecordSink;
  /** Signs each session's final digest. */
  signer?: RecordingSigner | null;
  /** Applied as the tables' TTL. Default 365. */
  retentionDays?: number;
  /** Run the schema migrations first. Default true. */
  migrate?: boolean;
  /**
   * The database is this process's alone (embedded): sessions an earlier run left without an
   * end are ended and sealed once the spool is drained. Default false.
   */
  sealUnended?: boolean;
  limits?: Partial<IngestLimits>;
  chain?: Partial<ChainLimits>;
  /** How often a terminal's screen is kept for seeking. Default the indexer's (5 s). */
  keyframeIntervalMs?: number;
  /** Makes terminal indexers (default: the real one, on the rendering thread). */
  terminal?: (opts: TerminalIndexerOptions) => Indexer;
  /**
   * Render terminals on a thread of their own (default true), so that parsing a session's
   * output never holds up the thread relaying sessions. False renders them in this thread.
   */
  renderThread?: boolean;
  now?: () => number;
}

/** This node's side of a live session, for watching it. */
export interface LiveRecording {
  readonly sessionId: string;
  watch(listener: LiveListener, opts?: { channel?: number }): LiveSubscription;
}

export interface Recorder extends SessionRecorder {
  open(start: SessionStart): SessionRecording;
  /** The recording of a session live on this node, or null. */
  live(sessionId: string): LiveRecording | null;
  /** Ids of the sessions recording on this node. */
  liveSessions(): string[];
  /** Resolves once every event recorded so far is in ClickHouse or in the spool. */
  flush(): Promise<void>;
  /** Resolves once every event recorded so far is in ClickHouse (waits for an outage to end). */
  drained(): Promise<void>;
  stats(): IngestStats & { liveSessions: number };
  /** Resolves once sessions left open by an earlier run are sealed (see sealUnended). */
  recovered(): Promise<void>;
  /** Ends the recordings still open ("gateway stopped"), then stores or spools everything. */
  close(): Promise<void>;
}

const TICK_MS = 1000;

export async function createRecorder(opts: RecorderOptions): Promise<Recorder> {
  const database = checkDatabaseName(opts.database ?? "jitgate");
  const log = new LogOnce(opts.logger);
  // A served ClickHouse down at start must not stop the gateway: the schema is then made
  // before the first insert that gets through, and batches wait in the spool meanwhile.
  let schema: Promise<void> | null = opts.migrate === false ? Promise.resolve() : null;
  const ensureSchema = () => {
    schema ??= migrate(opts.client, database, opts.retentionDays ?? DEFAULT_RETENTION_DAYS).then(
      () => undefined,
      (err: unknown) => {
        schema = null;
        throw err;
      },
    );
    return schema;
  };
  try {
    await ensureSchema();
  } catch (err) {
    if (err instanceof RecorderError) throw err;
    log.warn("unavailable", "recording: ClickHouse is unavailable at start; batches go to the local spool until it is back", { cause: cause(err) });
  }
  const spool = await Spool.open(opts.spoolDir, opts.logger);
  const inner = opts.sink ?? clickHouseSink({ client: opts.client, database, localDir: opts.localInsertDir ?? null });
  const sink: RecordSink = {
    async insert(part) {
      await ensureSchema().catch((err: unknown) => {
        if (err instanceof RecorderError) throw err;
        throw new RecorderError("UNAVAILABLE", `the recording schema could not be applied: ${cause(err)}`, err);
      });
      await inner.insert(part);
    },
  };
  const ingest = new Ingest(sink, spool, log, { ...DEFAULT_INGEST_LIMITS, ...opts.limits });
  const now = opts.now ?? Date.now;
  const recordings = new Map<string, Recording>();
  let closed = false;
  ingest.beforeBatch = () => {
    for (const r of recordings.values()) r.hashPending();
  };

  // Started with the first pty channel; a gateway without terminals never pays for it.
  let thread: RenderThread | null = null;
  const script = opts.renderThread === false ? null : workerScript();
  if (opts.renderThread !== false && script === null) log.warn("no-render-thread", "recording: the rendering thread's script was not found; terminals are rendered on the main thread");
  const render = (o: TerminalIndexerOptions): Indexer => {
    if (script === null) return new TerminalIndexer(o);
    thread ??= new RenderThread(script, (err) => log.error("render-thread", "recording: the terminal rendering thread failed; new terminals are rendered on the main thread", { cause: err.message }));
    return thread.open(o);
  };

  // Recordings gathering a row: written at the end of the turn they began it in.
  const unsettled = new Set<Recording>();
  let settling = false;
  const settle = () => {
    settling = false;
    for (const r of unsettled) r.settle();
    unsettled.clear();
  };

  const ctx = {
    ingest,
    log,
    now,
    signer: opts.signer ?? null,
    chain: { ...DEFAULT_CHAIN_LIMITS, ...opts.chain },
    terminal: opts.terminal ?? render,
    keyframeIntervalMs: opts.keyframeIntervalMs,
    forget(r: Recording) {
      if (recordings.get(r.sessionId) === r) recordings.delete(r.sessionId);
    },
    settleSoon(r: Recording) {
      unsettled.add(r);
      if (!settling) {
        settling = true;
        setImmediate(settle);
      }
    },
  };

  // Resolves once leftovers of an earlier run are sealed (at once when not asked to).
  const recovered = opts.sealUnended
    ? ingest.drained().then(() => sealUnended(opts.client, database, { live: (id) => recordings.has(id), ingest, signer: ctx.signer, log, now })).then(
        () => undefined,
        (err: unknown) => log.error("seal-unended", "recording: sessions left open by an earlier run could not be sealed", { cause: cause(err) }),
      )
    : Promise.resolve();

  const timer = setInterval(() => {
    for (const r of recordings.values()) r.tick();
  }, TICK_MS);
  timer.unref();

  return {
    open(start) {
      try {
        if (closed) throw new Error("the recorder is closed");
        const r = new Recording(ctx, start);
        if (recordings.has(r.sessionId)) log.warn("duplicate-session", "recording: two sessions with one id; only the newer can be watched", { sessionId: r.sessionId });
        recordings.set(r.sessionId, r);
        return r;
      } catch (err) {
        log.error(`open:${(err as Error).message}`, "recording: a session could not be recorded", { sessionId: String(start?.sessionId), cause: (err as Error).message });
        return discarding(String(start?.sessionId));
      }
    },
    live(sessionId) {
      const r = recordings.get(sessionId);
      return r && !r.ended ? r : null;
    },
    liveSessions: () => [...recordings.values()].filter((r) => !r.ended).map((r) => r.sessionId),
    flush: () => {
      settle();
      return ingest.flush();
    },
    drained: () => {
      settle();
      return ingest.drained();
    },
    stats: () => ({ ...ingest.stats(), liveSessions: recordings.size }),
    recovered: () => recovered,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await Promise.all([...recordings.values()].map((r) => r.end("gateway stopped")));
      await ingest.close();
      await thread?.close();
    },
  };
}

/** What a session gets when its recording could not even start: the session must go on. */
function discarding(sessionId: string): SessionRecording {
  return {
    sessionId,
    channelOpen() {},
    output: () => true,
    input: () => true,
    resize() {},
    channelClose() {},
    sftp() {},
    sql: () => true,
    http: () => true,
    waitWritable: () => Promise.resolve(),
    end: () => Promise.resolve(),
  };
}
