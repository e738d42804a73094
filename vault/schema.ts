// The vault's tables. Migrations are applied in order, once each, by the gateway's store;
// never edit a released one, add the next. No column ever holds a plaintext secret or key.
export interface VaultMigration {
  id: string;
  sql: string;
}

export const vaultMigrations: VaultMigration[] = [
  {
    id: "vault-001-secrets",
    sql: `
-- One row per key-encryption key. The KEK itself is never stored: a passphrase KEK is
-- re-derived from the salt and parameters here, a key-file KEK is read from its file.
-- The verifier (a constant sealed under the KEK) tells a wrong passphrase from a right one.
-- 'next' is a KEK being rekeyed to: recorded before any data key is wrapped under it,
-- so a crash mid-rekey never leaves data keys under a KEK nobody can re-derive.
CREATE TABLE vault_keks (
  id text PRIMARY KEY,
  kdf text NOT NULL CHECK (kdf IN ('argon2id', 'keyfile')),
  kdf_params jsonb,
  salt bytea,
  verifier_iv bytea NOT NULL,
  verifier_tag bytea NOT NULL,
  verifier_ciphertext bytea NOT NULL,
  state text NOT NULL CHECK (state IN ('active', 'next', 'retired')),
  created_at timestamptz NOT NULL,
  activated_at timestamptz,
  retired_at timestamptz,
  CHECK (kdf <> 'argon2id' OR (kdf_params IS NOT NULL AND salt IS NOT NULL))
);
CREATE UNIQUE INDEX vault_keks_one_per_live_state ON vault_keks (state) WHERE state IN ('active', 'next');

CREATE TABLE vault_secrets (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN ('password', 'private-key', 'token')),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- 'discarded' is a pending version that was never promoted. Its ciphertext is kept: an
-- interrupted rotation may have reached the target, and only the vault still holds that value.
CREATE TABLE vault_secret_versions (
  secret_id uuid NOT NULL REFERENCES vault_secrets(id) ON DELETE CASCADE,
  version integer NOT NULL CHECK (version > 0),
  state text NOT NULL CHECK (state IN ('pending', 'current', 'retired', 'discarded')),
  kek_id text NOT NULL REFERENCES vault_keks(id),
  dek_iv bytea NOT NULL,
  dek_tag bytea NOT NULL,
  dek_ciphertext bytea NOT NULL,
  value_iv bytea NOT NULL,
  value_tag bytea NOT NULL,
  value_ciphertext bytea NOT NULL,
  created_at timestamptz NOT NULL,
  created_by text NOT NULL,
  reason text NOT NULL,
  state_changed_at timestamptz NOT NULL,
  PRIMARY KEY (secret_id, version)
);
CREATE UNIQUE INDEX vault_secret_versions_one_current ON vault_secret_versions (secret_id) WHERE state = 'current';
CREATE UNIQUE INDEX vault_secret_versions_one_pending ON vault_secret_versions (secret_id) WHERE state = 'pending';
CREATE INDEX vault_secret_versions_kek ON vault_secret_versions (kek_id);
`,
  },
  {
    // `jitgate vault history`: who rotated what, when, why, and how it ended. Never a value.
    id: "vault-002-rotation-history",
    sql: `
CREATE TABLE vault_rotations (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  actor text NOT NULL,
  reason text NOT NULL,
  trigger text NOT NULL CHECK (trigger IN ('on-demand', 'schedule', 'check-in', 'recovery')),
  outcome text NOT NULL CHECK (outcome IN ('rotated', 'failed', 'recovered', 'discarded')),
  error text,
  version integer,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL
);
CREATE INDEX vault_rotations_name ON vault_rotations (name, started_at);
`,
  },
];
