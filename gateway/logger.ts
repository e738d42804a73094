// Structured log lines on stderr, one JSON object per line, so a log shipper can parse them.
import type { Logger } from "../policies/index.js";

export function jsonLogger(level: "info" | "warn" | "error" = "info", write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const order = { info: 0, warn: 1, error: 2 };
  const emit = (lvl: "info" | "warn" | "error") => (message: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < order[level]) return;
    write(`${JSON.stringify({ t: new Date().toISOString(), level: lvl, msg: message, ...fields })}\n`);
  };
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}
