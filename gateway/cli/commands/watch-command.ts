// Watching a live session from the terminal: the current screen, then everything that
// follows, until the session ends or Ctrl-C. Read-only: nothing typed here reaches it.
import { WebSocket } from "ws";
import type { EventDto } from "../../api/sessions-dto.js";
import { apiFromProfile, enc, type Command } from "../command.js";
import { CliError } from "../errors.js";
import { timelineLine } from "./replay-timeline.js";

type Message =
  | { type: "snapshot"; channel: number; keyframe: { screen: string; cols: number; rows: number } | null }
  | { type: "event"; event: EventDto }
  | { type: "end"; reason: string };

export const watchCommand: Command = {
  name: "sessions watch",
  usage: "jitgate sessions watch SESSION_ID [--channel N]",
  summary: "watch a live session (auditors and admins); the screen first, then as it happens",
  args: [1, 1],
  options: { channel: { type: "string" } },
  async run(ctx) {
    const api = apiFromProfile(ctx.env);
    const id = ctx.positionals[0] ?? "";
    const url = new URL(`/api/v1/sessions/${enc(id)}/live${ctx.values.channel !== undefined ? `?channel=${enc(String(ctx.values.channel))}` : ""}`, api.server);
    url.protocol = "wss:";
    const ws = new WebSocket(url, { ...(api.ca ? { ca: api.ca } : {}), headers: api.token ? { authorization: `Bearer ${api.token}` } : {} });
    return new Promise<number>((resolve, reject) => {
      let startedAt = 0;
      ws.on("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => {
          let message = `the gateway refused (${res.statusCode})`;
          try {
            message = (JSON.parse(body) as { message: string }).message;
          } catch {
            // not JSON: keep the status line
          }
          reject(new CliError("WATCH_REFUSED", message));
        });
      });
      ws.on("error", (err) => reject(new CliError("WATCH_FAILED", `live view failed: ${err.message}`)));
      ws.on("message", (raw) => {
        const m = JSON.parse(String(raw)) as Message;
        if (m.type === "snapshot") {
          if (m.keyframe) process.stdout.write(`\x1b[2J\x1b[H${m.keyframe.screen}`);
        } else if (m.type === "event") {
          const e = m.event;
          startedAt ||= e.ts;
          if (e.kind === "output") process.stdout.write(Buffer.from(e.data, "base64"));
          else if (e.kind !== "input" && e.kind !== "resize") {
            const line = timelineLine(e, startedAt);
            if (line) ctx.err(line);
          }
        } else {
          ctx.err(`\r\n[jitgate: session ended: ${m.reason}]`);
        }
      });
      ws.on("close", () => resolve(0));
    });
  },
};
