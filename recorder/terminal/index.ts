// Terminal rendering: keyframes and searchable text from a pty channel's bytes, asciicast
// export, replay timing.
export { TerminalError, type TerminalErrorCode } from "./errors.js";
export { TerminalIndexer } from "./indexer.js";
export type { Indexer, Keyframe, TerminalEvent, TerminalIndexerOptions, TextHit } from "./model.js";
export { RenderThread, workerScript } from "./render-thread.js";
export { toAsciicast, type AsciicastHeader } from "./asciicast.js";
export { replayFrames, type ReplayFrame, type ReplayOptions } from "./replay.js";
