// Policies are applied from files and kept as versions: a request records the version it
// was judged under, so later edits never change how a past decision reads.
import { canonicalJson } from "./canonical-json.js";
import type { ControlDeps } from "./context.js";
import { notFound } from "./errors.js";
import type { SqlClient } from "./ports.js";
import type { PolicySpec } from "./policy-model.js";

export interface StoredPolicy {
  name: string;
  version: number;
  source: string;
  updatedAt: Date;
  spec: PolicySpec;
}

export interface ApplyResult {
  applied: { name: string; version: number; changed: boolean }[];
  deleted: { name: string; version: number }[];
}

interface PolicyRow {
  name: string;
  version: number;
  spec: PolicySpec;
  source: string;
  deleted_at: Date | null;
  updated_at: Date;
  [k: string]: unknown;
}

export class PolicyStore {
  constructor(private readonly deps: ControlDeps) {}

  async apply(actor: string, specs: PolicySpec[], source: string, prune: boolean): Promise<ApplyResult> {
    const now = new Date(this.deps.clock.now());
    return this.deps.sql.transaction(async (tx) => {
      // One writer at a time: two concurrent applies must not both claim version n+1.
      await tx.query("SELECT pg_advisory_xact_lock(7261534800001)");
      const current = new Map((await tx.query<PolicyRow>("SELECT * FROM policies")).map((r) => [r.name, r]));
      const result: ApplyResult = { applied: [], deleted: [] };
      for (const spec of specs) {
        const row = current.get(spec.name);
        if (row && !row.deleted_at && canonicalJson(row.spec) === canonicalJson(spec)) {
          result.applied.push({ name: spec.name, version: row.version, changed: false });
          continue;
        }
        const version = (row?.version ?? 0) + 1;
        await this.writeVersion(tx, spec.name, version, spec, source, actor, now);
        await this.deps.audit.append(tx, { actor, target: null, type: "policy.applied", data: { policyName: spec.name, version, source } });
        result.applied.push({ name: spec.name, version, changed: true });
      }
      if (prune) {
        const keep = new Set(specs.map((s) => s.name));
        for (const row of current.values()) {
          if (keep.has(row.name) || row.deleted_at) continue;
          const version = row.version + 1;
          await this.writeVersion(tx, row.name, version, null, source, actor, now);
          await this.deps.audit.append(tx, { actor, target: null, type: "policy.deleted", data: { policyName: row.name, version, source } });
          result.deleted.push({ name: row.name, version });
        }
      }
      return result;
    });
  }

  private async writeVersion(tx: SqlClient, name: string, version: number, spec: PolicySpec | null, source: string, actor: string, now: Date) {
    await tx.query(
      "INSERT INTO policy_versions (name, version, spec, source, applied_by, applied_at) VALUES ($1, $2, $3, $4, $5, $6)",
      [name, version, spec === null ? null : JSON.stringify(spec), source, actor, now],
    );
    if (spec === null) {
      await tx.query("UPDATE policies SET version = $2, deleted_at = $3, updated_at = $3 WHERE name = $1", [name, version, now]);
    } else {
      await tx.query(
        `INSERT INTO policies (name, version, spec, source, deleted_at, updated_at) VALUES ($1, $2, $3, $4, NULL, $5)
         ON CONFLICT (name) DO UPDATE SET version = $2, spec = $3, source = $4, deleted_at = NULL, updated_at = $5`,
        [name, version, JSON.stringify(spec), source, now],
      );
    }
  }

  async active(sql: SqlClient = this.deps.sql): Promise<StoredPolicy[]> {
    const rows = await sql.query<PolicyRow>("SELECT * FROM policies WHERE deleted_at IS NULL ORDER BY name");
    return rows.map((r) => ({ name: r.name, version: r.version, source: r.source, updatedAt: r.updated_at, spec: r.spec }));
  }

  /** Every version of a policy, newest first: what it said, when, from which file, by whom. */
  async history(name: string): Promise<{ version: number; spec: PolicySpec | null; source: string; appliedBy: string; appliedAt: Date }[]> {
    const rows = await this.deps.sql.query<{ version: number; spec: PolicySpec | null; source: string; applied_by: string; applied_at: Date }>(
      "SELECT version, spec, source, applied_by, applied_at FROM policy_versions WHERE name = $1 ORDER BY version DESC",
      [name],
    );
    if (rows.length === 0) throw notFound("POLICY_NOT_FOUND", `no policy named ${JSON.stringify(name)}; list them with: jitgate policies`);
    return rows.map((r) => ({ version: r.version, spec: r.spec, source: r.source, appliedBy: r.applied_by, appliedAt: r.applied_at }));
  }

  async version(sql: SqlClient, name: string, version: number): Promise<PolicySpec> {
    const rows = await sql.query<{ spec: PolicySpec | null }>("SELECT spec FROM policy_versions WHERE name = $1 AND version = $2", [name, version]);
    const spec = rows[0]?.spec;
    if (!spec) throw notFound("POLICY_NOT_FOUND", `policy ${name} version ${version} is not on record`);
    return spec;
  }
}
