import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "../command.js";
import { jitgateHome } from "../profile.js";

export const clientCertCommands: Command[] = [
  {
    name: "client-cert",
    usage: "jitgate client-cert [--out DIR] [--for DURATION]",
    summary: "make a key pair here and get a client certificate for it (for psql's sslcert/sslkey); the private key never leaves this machine",
    args: [0, 0],
    options: { out: { type: "string" }, for: { type: "string" } },
    async run(ctx) {
      const dir = resolve((ctx.values.out as string | undefined) ?? join(jitgateHome(ctx.env), "client"));
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const r = await ctx.api<{ certificate: string; serial: string; notAfter: string }>("POST", "/api/v1/me/client-certificate", {
        publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
        ...(ctx.values.for !== undefined ? { validFor: ctx.values.for } : {}),
      });
      const ca = await ctx.api<{ certificate: string }>("GET", "/api/v1/ca/tls");
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const keyPath = join(dir, "client.key");
      // libpq refuses a key file that others can read.
      writeFileSync(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }).toString(), { mode: 0o600 });
      chmodSync(keyPath, 0o600);
      writeFileSync(join(dir, "client.crt"), r.certificate);
      writeFileSync(join(dir, "root.crt"), ca.certificate);
      const files = { sslcert: join(dir, "client.crt"), sslkey: keyPath, sslrootcert: join(dir, "root.crt") };
      ctx.show({ ...files, serial: r.serial, notAfter: r.notAfter }, () =>
        `client certificate valid until ${r.notAfter}\npsql "... sslmode=verify-full sslcert=${files.sslcert} sslkey=${files.sslkey} sslrootcert=${files.sslrootcert}"`);
    },
  },
];
