// The recording model: what every protocol engine tells the recorder about a session.
// Versioned: a stored event carries RECORDING_VERSION, and readers accept every version
// up to their own, so an old recording stays replayable after the model grows.
// Version 2: the hash chain covers each event row's RowBinary bytes (version 1: its
// TabSeparated line with the bytes in base64).
export const RECORDING_VERSION = 2;

export type Protocol = "ssh" | "postgres" | "http";

/** Who, under which grant, to what, from where: fixed for the life of a session. */
export interface SessionStart {
  sessionId: string;
  protocol: Protocol;
  grantId: string;
  userId: string;
  userName: string;
  targetId: string;
  targetName: string;
  login: string;
  clientAddress: string;
  /** The gateway node that holds the session. */
  node: string;
  /** Epoch milliseconds. */
  startedAt: number;
  /** From the grant's policy: SQL parameter values are stored as `[redacted]`. */
  redactParameters: boolean;
}

/** An SSH channel as it opened: a shell with a pty, an exec, or a subsystem such as sftp. */
export interface ChannelOpen {
  channel: number;
  type: "shell" | "exec" | "subsystem";
  /** Present when the client asked for a pty; only then are the channel's bytes rendered as a terminal. */
  pty: { term: string; cols: number; rows: number } | null;
  /** The exec command, or the subsystem's name. */
  command: string | null;
}

export interface SftpOperation {
  channel: number;
  /** open, read, write, close, remove, rename, mkdir, rmdir, stat, readdir, setstat, symlink, readlink, realpath... */
  op: string;
  path: string;
  /** The second path of rename and symlink. */
  path2?: string;
  /** Bytes moved by read/write summed over the handle's life, reported at close. */
  bytes?: number;
  /** "ok" or the SFTP status name (NO_SUCH_FILE, PERMISSION_DENIED, ...). */
  status: string;
}

export interface SqlStatement {
  text: string;
  /** Bind parameters as the client sent them (text form; binary shown as \x hex); null for the simple protocol. */
  params: (string | null)[] | null;
  /** From the first message of the statement (Query or Parse/Bind/Execute) to its CommandComplete or error. */
  durationMs: number;
  /** The CommandComplete tag (SELECT 3, INSERT 0 1, COPY 10); null on error. */
  tag: string | null;
  rows: number | null;
  /** SQLSTATE on error, else null. */
  sqlstate: string | null;
  error: string | null;
  /** Where an error happened: parse, bind, execute, or simple. */
  stage: "simple" | "parse" | "bind" | "execute" | null;
}

export interface HttpExchange {
  method: string;
  path: string;
  query: string;
  status: number;
  requestBytes: number;
  responseBytes: number;
  durationMs: number;
  /** Captured only when the target's configuration asks for it, already redacted and cut to the configured size. */
  requestBody?: string;
  responseBody?: string;
  /** True for a websocket upgrade; its frames are not recorded one by one. */
  websocket?: boolean;
}

/**
 * What an engine holds for one session. Every method returns at once and never throws: a
 * recorder fault is logged once and must not reach the client's session.
 */
export interface SessionRecording {
  readonly sessionId: string;
  channelOpen(open: ChannelOpen): void;
  /**
   * Bytes the target sent on a channel (stdout and stderr alike, as the client sees them).
   * Returns false while the recorder's buffer is above its high-water mark: the engine
   * should stop reading from the target until waitWritable() resolves.
   */
  output(channel: number, data: Uint8Array): boolean;
  /** Bytes the client sent on a channel. Same return value as output(). */
  input(channel: number, data: Uint8Array): boolean;
  resize(channel: number, cols: number, rows: number): void;
  channelClose(channel: number, exit: { code: number | null; signal: string | null }): void;
  sftp(op: SftpOperation): void;
  /** Same return value as output(): false asks the engine to stop reading its client for a while. */
  sql(statement: SqlStatement): boolean;
  /** Same return value as output(). */
  http(exchange: HttpExchange): boolean;
  /** Resolves once the buffer is below its low-water mark again. */
  waitWritable(): Promise<void>;
  /** Ends the recording: flushes, seals the hash chain with the final digest. Idempotent. */
  end(reason: string): Promise<void>;
}

/** The engine-facing side of the recorder. */
export interface SessionRecorder {
  open(start: SessionStart): SessionRecording;
}
