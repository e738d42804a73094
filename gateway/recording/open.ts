// Opens this node's recorder. Placeholder until the ClickHouse sink lands: discards events.
import type { Logger } from "../../policies/index.js";
import type { SessionRecorder, SessionRecording } from "../../recorder/index.js";
import type { GatewayConfig } from "../config.js";

export interface NodeRecorder {
  recorder: SessionRecorder;
  close(): Promise<void>;
}

export async function openRecorder(_cfg: GatewayConfig, _logger: Logger): Promise<NodeRecorder> {
  const recording = (sessionId: string): SessionRecording => ({
    sessionId,
    channelOpen: () => {},
    output: () => true,
    input: () => true,
    resize: () => {},
    channelClose: () => {},
    sftp: () => {},
    sql: () => {},
    http: () => {},
    waitWritable: () => Promise.resolve(),
    end: () => Promise.resolve(),
  });
  return { recorder: { open: (s) => recording(s.sessionId) }, close: () => Promise.resolve() };
}
