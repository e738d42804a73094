import { loadConfig } from "../../config.js";
import { UsageError } from "../errors.js";
import type { Command } from "../command.js";

function portFlag(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} needs a port number from 0 to 65535, not ${JSON.stringify(value)}`);
  return n;
}

export const serveCommand: Command = {
  name: "serve",
  usage: "jitgate serve [--config FILE] [--data DIR] [--host ADDR] [--api-port N] [--ssh-port N] [--pg-port N] [--http-port N]",
  summary: "run a gateway node (embedded defaults in DIR, ./data if not given)",
  args: [0, 0],
  options: {
    config: { type: "string" },
    data: { type: "string" },
    host: { type: "string" },
    "api-port": { type: "string" },
    "ssh-port": { type: "string" },
    "pg-port": { type: "string" },
    "http-port": { type: "string" },
  },
  async run(ctx) {
    const v = ctx.values;
    const cfg = loadConfig({
      config: v.config as string | undefined,
      data: v.data as string | undefined,
      host: v.host as string | undefined,
      apiPort: portFlag(v["api-port"], "--api-port"),
      sshPort: portFlag(v["ssh-port"], "--ssh-port"),
      pgPort: portFlag(v["pg-port"], "--pg-port"),
      httpPort: portFlag(v["http-port"], "--http-port"),
    }, ctx.env);
    // The server's modules (stores, engines, the recorder) load only for serve: every other
    // command starts in a fraction of the time without them.
    const { serve } = await import("../../serve.js");
    const gw = await serve(cfg, (line) => ctx.out(line), ctx.env);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        ctx.err(`jitgate: ${signal}, shutting down`);
        void gw.close().then(resolve);
      };
      process.once("SIGINT", () => stop("SIGINT"));
      process.once("SIGTERM", () => stop("SIGTERM"));
    });
    return 0;
  },
};
