// Targets (the systems behind the gateway) and accounts (the logins on them, and how the
// gateway authenticates as each). Secrets themselves live in the vault, never here.
import { randomUUID } from "node:crypto";
import type { ControlDeps } from "./context.js";
import { conflict, invalid, notFound } from "./errors.js";
import { checkLabels, checkLogin, checkName, formatAddress, parseAddress } from "./names.js";
import type { SqlClient } from "./ports.js";

export const TARGET_KINDS = ["ssh", "postgres", "http"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
export const ACCOUNT_AUTHS = ["password", "key", "certificate", "ephemeral"] as const;
export type AccountAuth = (typeof ACCOUNT_AUTHS)[number];

export interface Target {
  id: string;
  name: string;
  kind: TargetKind;
  host: string;
  port: number;
  address: string;
  labels: Record<string, string>;
  createdAt: Date;
}

export interface Account {
  id: string;
  targetName: string;
  login: string;
  auth: AccountAuth;
  options: Record<string, unknown>;
  createdAt: Date;
}

interface TargetRow {
  id: string;
  name: string;
  kind: TargetKind;
  host: string;
  port: number;
  labels: Record<string, string>;
  created_at: Date;
  [k: string]: unknown;
}

const toTarget = (r: TargetRow): Target => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  host: r.host,
  port: r.port,
  address: formatAddress(r.host, r.port),
  labels: r.labels,
  createdAt: r.created_at,
});

// Which ways of logging in upstream make sense for each kind of target.
const AUTHS_BY_KIND: Record<TargetKind, readonly AccountAuth[]> = {
  ssh: ["password", "key", "certificate"],
  postgres: ["password", "certificate", "ephemeral"],
  http: ["password"],
};

export class InventoryService {
  constructor(private readonly deps: ControlDeps) {}

  async addTarget(actor: string, input: { name: unknown; kind: unknown; address: unknown; labels?: unknown }): Promise<Target> {
    const name = checkName("target", input.name);
    if (!TARGET_KINDS.includes(input.kind as TargetKind)) {
      throw invalid("INVALID_KIND", `kind ${JSON.stringify(input.kind)} is not one of ${TARGET_KINDS.join(", ")}`);
    }
    const kind = input.kind as TargetKind;
    const { host, port } = parseAddress(input.address);
    const labels = checkLabels(input.labels);
    const now = new Date(this.deps.clock.now());
    return this.deps.sql.transaction(async (tx) => {
      const taken = await tx.query("SELECT 1 FROM targets WHERE name = $1", [name]);
      if (taken.length > 0) throw conflict("TARGET_EXISTS", `target ${name} already exists`);
      // A concurrent add of the same name can commit between the check above and here.
      const rows = await tx.query<TargetRow>(
        "INSERT INTO targets (id, name, kind, host, port, labels, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (name) DO NOTHING RETURNING *",
        [randomUUID(), name, kind, host, port, JSON.stringify(labels), now],
      );
      if (rows.length === 0) throw conflict("TARGET_EXISTS", `target ${name} already exists`);
      const target = toTarget(rows[0] as TargetRow);
      await this.deps.audit.append(tx, { actor, target: name, type: "target.created", data: { targetName: name, kind, address: target.address, labels } });
      return target;
    });
  }

  async updateTarget(actor: string, name: string, changes: { address?: unknown; labels?: unknown }): Promise<Target> {
    const addr = changes.address === undefined ? null : parseAddress(changes.address);
    const labels = changes.labels === undefined ? null : checkLabels(changes.labels);
    return this.deps.sql.transaction(async (tx) => {
      const current = await this.targetRow(tx, name, true);
      const rows = await tx.query<TargetRow>(
        "UPDATE targets SET host = $2, port = $3, labels = $4, updated_at = $5 WHERE id = $1 RETURNING *",
        [current.id, addr?.host ?? current.host, addr?.port ?? current.port, JSON.stringify(labels ?? current.labels), new Date(this.deps.clock.now())],
      );
      const audited: Record<string, unknown> = {};
      if (addr) audited.address = formatAddress(addr.host, addr.port);
      if (labels) audited.labels = labels;
      await this.deps.audit.append(tx, { actor, target: name, type: "target.updated", data: { targetName: name, changes: audited } });
      return toTarget(rows[0] as TargetRow);
    });
  }

  async getTarget(name: string): Promise<Target> {
    return toTarget(await this.targetRow(this.deps.sql, name, false));
  }

  async listTargets(): Promise<Target[]> {
    return (await this.deps.sql.query<TargetRow>("SELECT * FROM targets ORDER BY name")).map(toTarget);
  }

  async targetRow(sql: SqlClient, name: string, lock: boolean): Promise<TargetRow> {
    const rows = await sql.query<TargetRow>(`SELECT * FROM targets WHERE name = $1${lock ? " FOR UPDATE" : ""}`, [name]);
    const row = rows[0];
    if (!row) throw notFound("TARGET_NOT_FOUND", `no target named ${JSON.stringify(name)}; list them with: jitgate targets`);
    return row;
  }

  async addAccount(actor: string, targetName: string, input: { login: unknown; auth: unknown; options?: unknown }): Promise<Account> {
    const login = checkLogin(input.login);
    if (!ACCOUNT_AUTHS.includes(input.auth as AccountAuth)) {
      throw invalid("INVALID_AUTH", `auth ${JSON.stringify(input.auth)} is not one of ${ACCOUNT_AUTHS.join(", ")}`);
    }
    const auth = input.auth as AccountAuth;
    const options = input.options ?? {};
    if (typeof options !== "object" || Array.isArray(options) || options === null) throw invalid("INVALID_OPTIONS", "options must be an object");
    if (JSON.stringify(options).length > 8192) throw invalid("INVALID_OPTIONS", "options are larger than 8 KiB");
    return this.deps.sql.transaction(async (tx) => {
      const target = await this.targetRow(tx, targetName, true);
      if (!AUTHS_BY_KIND[target.kind].includes(auth)) {
        throw invalid("AUTH_NOT_SUPPORTED", `a ${target.kind} target cannot use --auth ${auth}: use ${AUTHS_BY_KIND[target.kind].join(", ")}`);
      }
      const taken = await tx.query("SELECT 1 FROM accounts WHERE target_id = $1 AND login = $2", [target.id, login]);
      if (taken.length > 0) throw conflict("ACCOUNT_EXISTS", `${target.name} already has an account ${login}`);
      const now = new Date(this.deps.clock.now());
      const id = randomUUID();
      await tx.query(
        "INSERT INTO accounts (id, target_id, login, auth, options, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        [id, target.id, login, auth, JSON.stringify(options), now],
      );
      await this.deps.audit.append(tx, { actor, target: target.name, type: "account.created", data: { targetName: target.name, login, auth } });
      return { id, targetName: target.name, login, auth, options: options as Record<string, unknown>, createdAt: now };
    });
  }

  async getAccount(targetName: string, login: string): Promise<Account> {
    const rows = await this.listAccounts(targetName);
    const account = rows.find((a) => a.login === login);
    if (!account) throw notFound("ACCOUNT_NOT_FOUND", `${targetName} has no account ${login}; see its accounts with: jitgate accounts ${targetName}`);
    return account;
  }

  /** Records that a new version of an account's secret went into the vault. */
  async secretSet(actor: string, targetName: string, login: string, version: number): Promise<void> {
    await this.deps.sql.transaction((tx) =>
      this.deps.audit.append(tx, { actor, target: targetName, type: "account.secret_set", data: { targetName, login, version } }),
    );
  }

  /**
   * Trust on first use: stores the host key an account's target showed at its first
   * connection as the account's `hostKey` option. False when one is stored already (another
   * node got there first): the caller must then check the key against the stored one.
   */
  async recordHostKey(targetName: string, login: string, hostKeyLine: string): Promise<boolean> {
    const rows = await this.deps.sql.query<{ id: string }>(
      `UPDATE accounts a SET options = a.options || jsonb_build_object('hostKey', $3::text), updated_at = $4
       FROM targets t WHERE t.id = a.target_id AND t.name = $1 AND a.login = $2 AND NOT (a.options ? 'hostKey')
       RETURNING a.id`,
      [targetName, login, hostKeyLine, new Date(this.deps.clock.now())],
    );
    return rows.length > 0;
  }

  async listAccounts(targetName?: string): Promise<Account[]> {
    const rows = await this.deps.sql.query<{ id: string; target_name: string; login: string; auth: AccountAuth; options: Record<string, unknown>; created_at: Date }>(
      `SELECT a.id, t.name AS target_name, a.login, a.auth, a.options, a.created_at
       FROM accounts a JOIN targets t ON t.id = a.target_id
       WHERE ($1::text IS NULL OR t.name = $1) ORDER BY t.name, a.login`,
      [targetName ?? null],
    );
    if (targetName && rows.length === 0) await this.getTarget(targetName);
    return rows.map((r) => ({ id: r.id, targetName: r.target_name, login: r.login, auth: r.auth, options: r.options, createdAt: r.created_at }));
  }
}
