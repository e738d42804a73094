import type { Command } from "../command.js";
import { UsageError } from "../errors.js";
import { readStdin } from "../prompt.js";

interface Rekeyed { kekId: string; kdf: string; rewrapped: number; message: string }

export const rekeyCommands: Command[] = [
  {
    name: "vault rekey",
    usage: "jitgate vault rekey --passphrase-stdin | --key-file PATH",
    summary: "re-wrap every data key under a new key from a passphrase (read from stdin) or a key file on the gateway's host, without downtime",
    args: [0, 0],
    options: { "passphrase-stdin": { type: "boolean" }, "key-file": { type: "string" } },
    async run(ctx) {
      const fromStdin = ctx.values["passphrase-stdin"] === true;
      const keyFile = ctx.values["key-file"] as string | undefined;
      if (fromStdin === (keyFile !== undefined)) {
        throw new UsageError("give exactly one of --passphrase-stdin (pipe the new passphrase in) or --key-file PATH (a file on the gateway's host, mode 0600)");
      }
      const body = fromStdin ? { passphrase: await readStdin() } : { keyFile };
      const r = await ctx.api<Rekeyed>("POST", "/api/v1/vault/rekey", body);
      ctx.show(r, () => r.message);
    },
  },
];
