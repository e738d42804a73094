// The recorder library: the recording model, the ClickHouse sink, terminal rendering, live
// fan-out, replay and export. Everything outside this folder imports from here only.
export * from "./model.js";
export * from "./terminal/index.js";
export { RecorderError, type RecorderErrorCode } from "./errors.js";
export type { BatchPart, RecorderLogger, RowFormat, RecordingSigner, RecordingVerifier, RecordSink, TableName } from "./ports.js";
export { clickHouseSink, openClickHouse, type ClickHouseHandle, type ClickHouseSinkOptions } from "./clickhouse.js";
export { DEFAULT_RETENTION_DAYS, migrate, SCHEMA_VERSION } from "./schema.js";
export { createRecorder, type LiveRecording, type Recorder, type RecorderOptions } from "./recorder.js";
export { DEFAULT_INGEST_LIMITS, type IngestLimits, type IngestStats } from "./ingest.js";
export { ed25519Signer, ed25519Verifier, keyIdOf, type ChainLimits } from "./chain.js";
export {
  RecordingReader, type EventPage, type EventRange, type RecordingReaderOptions, type SearchHit, type SearchOptions, type SessionFilter,
  type SessionSummary, type StoredKeyframe, type TerminalRecording,
} from "./reader.js";
export type { VerifyProblem, VerifyProblemKind, VerifyReport } from "./verify.js";
export type { RecordedEvent } from "./events.js";
export type { LiveListener, LiveMessage, LiveSubscription } from "./live.js";
export { EVENT_KINDS, TEXT_SOURCES, type EventKind, type TextSource } from "./tables.js";
