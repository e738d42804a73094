// Failures of the terminal rendering. The indexer never throws them into a session: it keeps
// the first fault since the caller last looked (TerminalIndexer.takeError), so the caller logs
// a cause once. Replay options are checked up front and thrown, since a person typed them.
export type TerminalErrorCode =
  /** xterm threw while parsing output or serializing the screen; the indexer went on. */
  | "render_fault"
  /** Output arrived faster than it could be parsed and the backlog was full: bytes skipped. */
  | "output_dropped"
  /** Nobody called take() for so long that the pending text lines hit their cap. */
  | "text_dropped"
  /** Offsets jumped forward: bytes between them were never given. */
  | "offset_gap"
  /** The indexer was disposed before a snapshot could be taken. */
  | "disposed"
  /** replayFrames was given a speed or idle cap it cannot use. */
  | "replay_options_invalid";

export class TerminalError extends Error {
  readonly code: TerminalErrorCode;
  constructor(code: TerminalErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "TerminalError";
    this.code = code;
  }
}
