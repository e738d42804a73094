import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { enc, type Command } from "../command.js";
import { CliError } from "../errors.js";

interface IssuedCert { certificate: string; keyId: string; serial: string; validBefore: string }

const expandHome = (p: string) => (p === "~" || p.startsWith("~/") ? `${homedir()}${p.slice(1)}` : p);

/** The public key to certify: the file given, or the first of the usual ones that exists. */
function publicKeyPath(given: string | undefined): string {
  if (given !== undefined) return resolve(expandHome(given));
  for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const p = resolve(homedir(), ".ssh", `${name}.pub`);
    if (existsSync(p)) return p;
  }
  throw new CliError("NO_SSH_KEY", "no key in ~/.ssh (id_ed25519.pub, id_ecdsa.pub, id_rsa.pub): make one with ssh-keygen -t ed25519, or name one with --key FILE.pub");
}

function readPublicKey(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CliError("NO_SSH_KEY", `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? "error"}): name the public key with --key FILE.pub`);
  }
  // A private key never leaves this machine, not even by mistake.
  if (text.includes("PRIVATE KEY")) {
    const pub = `${path}.pub`;
    throw new CliError("SSH_PRIVATE_KEY", `${path} is a private key, which is never sent: give its public half${existsSync(pub) ? `, ${pub}` : " (a .pub file)"} with --key`);
  }
  return text.trim();
}

export const certCommands: Command[] = [
  {
    name: "cert",
    usage: "jitgate cert GRANT_ID [--key ~/.ssh/id_ed25519.pub] [--out FILE]",
    summary: "get an SSH certificate for your key, valid until your grant ends; written next to the key as KEY-cert.pub",
    args: [1, 1],
    options: { key: { type: "string" }, out: { type: "string" } },
    async run(ctx) {
      const keyPath = publicKeyPath(ctx.values.key as string | undefined);
      const publicKey = readPublicKey(keyPath);
      const r = await ctx.api<IssuedCert>("POST", `/api/v1/grants/${enc(ctx.positionals[0] ?? "")}/ssh-certificate`, { publicKey });
      const out = ctx.values.out !== undefined ? resolve(expandHome(ctx.values.out as string)) : `${keyPath.replace(/\.pub$/, "")}-cert.pub`;
      writeFileSync(out, `${r.certificate}\n`, { mode: 0o644 });
      chmodSync(out, 0o644);
      ctx.show({ ...r, file: out }, () => `wrote ${out}: certificate ${r.keyId}, serial ${r.serial}, valid until ${r.validBefore}`);
    },
  },
];
