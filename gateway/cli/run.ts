// Finds the command in argv, parses its options strictly, runs it, and maps failures to
// exit codes: 0 ok, 1 failure, 2 usage.
import { parseArgs } from "node:util";
import { ControlError } from "../../policies/index.js";
import { apiCaller, type Command, type CommandContext } from "./command.js";
import { accessCommands } from "./commands/access-commands.js";
import { adminCommands } from "./commands/admin-commands.js";
import { auditCommands } from "./commands/audit-commands.js";
import { caCommands } from "./commands/ca-commands.js";
import { vaultCommands } from "./commands/vault-commands.js";
import { rekeyCommands } from "./commands/rekey-commands.js";
import { certCommands } from "./commands/cert-commands.js";
import { clientCertCommands } from "./commands/client-cert-commands.js";
import { pgCommands } from "./commands/pg-commands.js";
import { serveCommand } from "./commands/serve-command.js";
import { sessionCommands } from "./commands/session-commands.js";
import { recordingCommands } from "./commands/recording-commands.js";
import { watchCommand } from "./commands/watch-command.js";
import { sshCommands } from "./commands/ssh-commands.js";
import { CliError, UsageError } from "./errors.js";
import { VERSION } from "../version.js";

export const COMMANDS: Command[] = [serveCommand, ...sessionCommands, ...adminCommands, ...accessCommands, ...auditCommands, ...caCommands, ...vaultCommands, ...rekeyCommands, ...certCommands, ...clientCertCommands, ...recordingCommands, watchCommand, ...sshCommands, ...pgCommands];

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `jitgate ${VERSION}: privileged access, just in time`,
    "",
    "usage: jitgate COMMAND [options] [--json]",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "jitgate COMMAND --help shows a command's options.",
  ].join("\n");
}

function find(argv: string[]): { command: Command; rest: string[] } | null {
  const two = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1]}`);
  if (two) return { command: two, rest: argv.slice(2) };
  const one = COMMANDS.find((c) => c.name === argv[0]);
  return one ? { command: one, rest: argv.slice(1) } : null;
}

export async function runCli(argv: string[], io: Io): Promise<number> {
  const json = argv.includes("--json");
  try {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      io.out(help());
      return argv.length === 0 ? 2 : 0;
    }
    if (argv[0] === "--version") {
      io.out(VERSION);
      return 0;
    }
    const found = find(argv);
    if (!found) throw new UsageError(`unknown command ${JSON.stringify(argv[0])}; run jitgate --help for the list`);
    const { command, rest } = found;
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(`${command.usage}\n\n${command.summary}`);
      return 0;
    }
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: { ...command.options, json: { type: "boolean" } }, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError(`${(err as Error).message}\nusage: ${command.usage}`);
    }
    const [min, max] = command.args;
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw new UsageError(`${command.name} takes ${min === max ? min : `${min} to ${max}`} argument(s)\nusage: ${command.usage}`);
    }
    const ctx: CommandContext = {
      values: parsed.values as CommandContext["values"],
      positionals: parsed.positionals,
      json,
      env: io.env,
      out: io.out,
      err: io.err,
      api: apiCaller(io.env),
      show: (data, human) => io.out(json ? JSON.stringify(data, null, 2) : human()),
    };
    return (await command.run(ctx)) ?? 0;
  } catch (err) {
    const { code, message, exit } =
      err instanceof UsageError ? { code: err.code, message: err.message, exit: 2 }
      : err instanceof CliError ? { code: err.code, message: err.message, exit: 1 }
      : err instanceof ControlError ? { code: err.code, message: err.message, exit: 1 }
      : { code: (err as { code?: string }).code ?? "ERROR", message: (err as Error).message ?? String(err), exit: 1 };
    io.err(json ? JSON.stringify({ error: { code, message } }) : `jitgate: ${message} (${code})`);
    return exit;
  }
}
