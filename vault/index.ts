export { VaultError, type VaultErrorKind } from "./errors.js";
export type { VaultClock, VaultRow, VaultSql } from "./ports.js";
export { vaultMigrations, type VaultMigration } from "./schema.js";
export { open, seal, secretAad, tryOpen, type Sealed, type SealedPart } from "./envelope.js";
export { DEFAULT_ARGON2, Kek, MIN_PASSPHRASE_LENGTH, kekStatus, prepareRekey, unlockKek, type Argon2Params, type KdfName, type KekDeps, type KekInfo, type KekOptions, type KekSource } from "./kek.js";
export { MAX_SECRET_BYTES, SECRET_KINDS, SecretStore, type RekeyResult, type SecretKind, type SecretStoreDeps, type SecretVersionInfo, type VersionState } from "./secret-store.js";
