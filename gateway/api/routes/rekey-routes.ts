// Rekeying the vault: every data key re-wrapped under a new key-encryption key, from a new
// passphrase or key file, while the gateway keeps serving. The SecretStore reads with both
// KEKs during the rewrap and writes under the new one from its first step.
import { isAbsolute } from "node:path";
import { z } from "zod";
import { MIN_PASSPHRASE_LENGTH, prepareRekey, VaultError, type KekSource } from "../../../vault/index.js";
import { HttpError } from "../http-errors.js";
import { route } from "../router.js";

const STATUS_BY_VAULT_KIND: Partial<Record<VaultError["kind"], number>> = { invalid: 400, conflict: 409, "not-found": 404, locked: 409 };

// One rekey at a time in this process; the cluster lock covers the other nodes.
let running: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const result = running.then(fn, fn);
  running = result.catch(() => {});
  return result;
}

function nextStart(source: KekSource): string {
  const others = "Other gateway nodes sharing this vault still hold the old key: restart each of them with the new one.";
  return source.kind === "passphrase"
    ? "From the next start on, the gateway needs the new passphrase: set JITGATE_VAULT_PASSPHRASE to it on every node " +
        `(the old key file or passphrase no longer opens the vault). ${others}`
    : `From the next start on, the gateway needs the new key file: point vault.keyFile in the configuration at ${source.path} ` +
        `on every node and leave JITGATE_VAULT_PASSPHRASE unset (the old key no longer opens the vault). ${others}`;
}

export const rekeyRoutes = [
  route({
    method: "POST",
    path: "/api/v1/vault/rekey",
    tag: "vault",
    summary: "Re-wrap every data key under a new key-encryption key from a new passphrase or key file, without downtime",
    access: ["admin"],
    body: z.strictObject({
      passphrase: z.string().max(1024).optional().describe("the new passphrase; or give keyFile"),
      keyFile: z.string().min(1).max(4096).optional().describe("an absolute path on the gateway's host to a 32-byte key file of mode 0600; or give passphrase"),
    }),
    async handler({ cp, svc, actor, body }) {
      const { passphrase, keyFile } = body;
      let source: KekSource;
      if (passphrase !== undefined && keyFile === undefined) {
        if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
          throw new HttpError(400, "VAULT_WEAK_PASSPHRASE", `a vault passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters; nothing was changed`);
        }
        source = { kind: "passphrase", passphrase };
      } else if (keyFile !== undefined && passphrase === undefined) {
        if (!isAbsolute(keyFile)) {
          throw new HttpError(400, "VAULT_KEY_FILE_INVALID", "give the key file as an absolute path on the gateway's host (a file of 32 bytes, raw or base64, mode 0600)");
        }
        source = { kind: "keyfile", path: keyFile };
      } else {
        throw new HttpError(400, "INVALID_BODY", "give exactly one of passphrase (the new vault passphrase) or keyFile (a path on the gateway's host)");
      }
      try {
        const result = await oneAtATime(() =>
          svc.rekey.exclusive(async () => {
            const next = await prepareRekey(svc.rekey.deps, source);
            return svc.secrets.rekey(next);
          }),
        );
        const kdf = source.kind === "passphrase" ? "argon2id" : "keyfile";
        await cp.deps.sql.transaction((tx) => cp.audit.append(tx, { actor: actor.name, target: null, type: "vault.rekeyed", data: { kekId: result.kekId, kdf, rewrapped: result.rewrapped } }));
        return {
          body: {
            kekId: result.kekId,
            kdf: source.kind === "passphrase" ? "argon2id" : "keyfile",
            rewrapped: result.rewrapped,
            message: `rekeyed the vault: ${result.rewrapped} data key(s) re-wrapped under ${result.kekId}; this gateway already uses it. ${nextStart(source)}`,
          },
        };
      } catch (err) {
        const status = err instanceof VaultError ? STATUS_BY_VAULT_KIND[err.kind] : undefined;
        if (err instanceof VaultError && status !== undefined) throw new HttpError(status, err.code, err.message);
        throw err;
      }
    },
  }),
];
