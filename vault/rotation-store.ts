// The secret store and the rotation history as a rotator sees them (rotation-port.ts).
import type { VaultSql } from "./ports.js";
import type { RotationEntry, RotationLog, RotationSecrets } from "./rotation-port.js";
import type { SecretStore } from "./secret-store.js";

export function rotationSecrets(store: SecretStore): RotationSecrets {
  return {
    current: (name) => store.current(name),
    putPending: async (name, kind, value, actor, reason) => (await store.putPending(name, kind, value, actor, reason)).version,
    promote: async (name, version) => {
      await store.promote(name, version);
    },
    discard: async (name, version) => {
      await store.discard(name, version);
    },
    pending: async (name) => {
      const pending = (await store.versions(name)).find((v) => v.state === "pending");
      return pending ? { version: pending.version, value: await store.read(name, pending.version) } : null;
    },
  };
}

interface RotationRow {
  name: string;
  actor: string;
  reason: string;
  trigger: RotationEntry["trigger"];
  outcome: RotationEntry["outcome"];
  error: string | null;
  version: number | null;
  started_at: Date;
  finished_at: Date;
  [k: string]: unknown;
}

export class RotationHistory implements RotationLog {
  constructor(private readonly sql: VaultSql) {}

  async record(e: RotationEntry): Promise<void> {
    await this.sql.query(
      `INSERT INTO vault_rotations (name, actor, reason, trigger, outcome, error, version, started_at, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [e.name, e.actor, e.reason, e.trigger, e.outcome, e.error, e.version, e.startedAt, e.finishedAt],
    );
  }

  /** Newest first. */
  async list(name: string, limit = 100): Promise<RotationEntry[]> {
    const rows = await this.sql.query<RotationRow>(
      "SELECT * FROM vault_rotations WHERE name = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
      [name, Math.min(Math.max(limit, 1), 1000)],
    );
    return rows.map((r) => ({
      name: r.name, actor: r.actor, reason: r.reason, trigger: r.trigger, outcome: r.outcome, error: r.error,
      version: r.version, startedAt: r.started_at, finishedAt: r.finished_at,
    }));
  }
}
