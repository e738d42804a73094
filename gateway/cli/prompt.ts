// Secrets for the CLI come from an environment variable, standard input, or a prompt
// that does not echo, never from the command line where `ps` and shell history see them.
import { UsageError } from "./errors.js";

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

export async function readSecret(question: string, opts: { envName?: string; fromStdin?: boolean; env?: NodeJS.ProcessEnv }): Promise<string> {
  const env = opts.env ?? process.env;
  if (opts.fromStdin) return readStdin();
  if (opts.envName && env[opts.envName]) return env[opts.envName] as string;
  if (!process.stdin.isTTY) {
    throw new UsageError(`no ${question.toLowerCase()}: ${opts.envName ? `set ${opts.envName}, or ` : ""}pipe it in with --password-stdin`);
  }
  return promptHidden(`${question}: `);
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = "";
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(null);
        if (ch === "\u0003") return done(new UsageError("cancelled"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = (err: Error | null) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    stdin.on("data", onData);
  });
}
