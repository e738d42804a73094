// Terminal rendering: keyframes and searchable text from a pty channel's bytes, asciicast
// export, replay timing.
export { TerminalError, type TerminalErrorCode } from "./errors.js";
export { TerminalIndexer } from "./indexer.js";
export type { Keyframe, TerminalEvent, TerminalIndexerOptions, TextHit } from "./model.js";
export { toAsciicast, type AsciicastHeader } from "./asciicast.js";
export { replayFrames, type ReplayFrame, type ReplayOptions } from "./replay.js";
