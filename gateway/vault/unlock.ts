// Opening the vault at start: its key-encryption key comes from JITGATE_VAULT_PASSPHRASE
// (argon2id) or from a key file. On the very first start of an embedded gateway the key
// file is made in the data directory, so `jitgate serve` needs no setup; a cluster's nodes
// must all be given the same key file or passphrase.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { kekStatus, SecretStore, unlockKek, type Kek, type KekSource, type VaultClock, type VaultSql } from "../../vault/index.js";
import type { Logger } from "../../policies/index.js";

export interface VaultSettings {
  keyFile: string;
  passphrase: string | null;
}

export class VaultSetupError extends Error {
  readonly code = "VAULT_SETUP";
}

export async function openVault(sql: VaultSql, clock: VaultClock, settings: VaultSettings, logger: Logger): Promise<{ secrets: SecretStore; kek: Kek }> {
  let source: KekSource;
  if (settings.passphrase) {
    source = { kind: "passphrase", passphrase: settings.passphrase };
  } else {
    if (!existsSync(settings.keyFile)) {
      const { active } = await kekStatus(sql);
      if (active) {
        throw new VaultSetupError(
          `the vault was created with a ${active.kdf === "keyfile" ? "key file" : "passphrase"}, but ${settings.keyFile} does not exist: ` +
            (active.kdf === "keyfile" ? "restore the key file (or point vault.keyFile at it)" : "set JITGATE_VAULT_PASSPHRASE"),
        );
      }
      mkdirSync(dirname(settings.keyFile), { recursive: true, mode: 0o700 });
      writeFileSync(settings.keyFile, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
      logger.warn("created the vault key file; back it up: without it the vault's secrets cannot be read", { keyFile: settings.keyFile });
    }
    source = { kind: "keyfile", path: settings.keyFile };
  }
  const kek = await unlockKek({ sql, clock }, source);
  return { secrets: new SecretStore({ sql, clock }, kek), kek };
}
