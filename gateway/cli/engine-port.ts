// Which port reaches an engine: --port, else the environment variable, else what the
// gateway says its engine listens on, else the engine's default.
import type { CommandContext } from "./command.js";
import { UsageError } from "./errors.js";

export async function enginePort(ctx: CommandContext, engine: "ssh" | "postgres", envName: string, fallback: number): Promise<number> {
  const given = (ctx.values.port as string | undefined) ?? ctx.env[envName];
  if (given !== undefined && given !== "") {
    const port = Number(given);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port ${JSON.stringify(given)} is not a port number (1-65535)`);
    return port;
  }
  const endpoints = await ctx.api<Record<string, number>>("GET", "/api/v1/endpoints").catch(() => ({}) as Record<string, number>);
  return endpoints[engine] ?? fallback;
}
