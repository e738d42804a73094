// Gateway users: people who request, approve, audit or administer. Contractors carry an
// expiresAt after which they can do nothing, and their grants end at that instant.
import { randomUUID } from "node:crypto";
import { ROLES, type Role } from "./policy-model.js";
import { inTransaction, iso, type Actor, type ControlDeps } from "./context.js";
import { conflict, invalid, notFound } from "./errors.js";
import { checkName } from "./names.js";
import { checkPasswordStrength, hashPassword } from "./passwords.js";
import type { SqlClient } from "./ports.js";
import type { BusEvent } from "./bus-events.js";
import { endGrants } from "./grant-end.js";

export interface User {
  id: string;
  name: string;
  roles: Role[];
  groups: string[];
  mustChangePassword: boolean;
  expiresAt: Date | null;
  disabledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserRow {
  id: string;
  name: string;
  roles: string[];
  groups: string[];
  password_hash: string | null;
  must_change_password: boolean;
  expires_at: Date | null;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
  [k: string]: unknown;
}

export const toUser = (r: UserRow): User => ({
  id: r.id,
  name: r.name,
  roles: r.roles as Role[],
  groups: r.groups,
  mustChangePassword: r.must_change_password,
  expiresAt: r.expires_at,
  disabledAt: r.disabled_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

function checkRoles(roles: unknown): Role[] {
  if (!Array.isArray(roles) || roles.length === 0) throw invalid("INVALID_ROLES", `give at least one role: ${ROLES.join(", ")}`);
  const out = new Set<Role>();
  for (const r of roles) {
    if (!ROLES.includes(r as Role)) throw invalid("INVALID_ROLES", `unknown role ${JSON.stringify(r)}: use ${ROLES.join(", ")}`);
    out.add(r as Role);
  }
  return [...out].sort();
}

function checkGroups(groups: unknown): string[] {
  if (groups === undefined || groups === null) return [];
  if (!Array.isArray(groups)) throw invalid("INVALID_GROUPS", "groups must be a list of names");
  return [...new Set(groups.map((g) => checkName("group", g)))].sort();
}

function checkExpiry(value: unknown): Date | null {
  if (value === undefined || value === null) return null;
  const d = typeof value === "string" ? new Date(value) : null;
  if (!d || Number.isNaN(d.getTime())) throw invalid("INVALID_EXPIRY", `expiresAt ${JSON.stringify(value)} is not a date: use ISO 8601, like 2027-03-31 or 2027-03-31T18:00:00Z`);
  return d;
}

export interface NewUser {
  name: string;
  roles: string[];
  groups?: string[];
  expiresAt?: string | null;
  password?: string | null;
  mustChangePassword?: boolean;
}

export interface UserChanges {
  roles?: string[];
  groups?: string[];
  expiresAt?: string | null;
  disabled?: boolean;
  password?: string;
}

export class UserService {
  constructor(private readonly deps: ControlDeps) {}

  /** Creates a user; pass `within` to join a transaction the caller already holds. */
  async create(actor: string, input: NewUser, within?: SqlClient): Promise<User> {
    const name = checkName("user", input.name);
    const roles = checkRoles(input.roles);
    const groups = checkGroups(input.groups);
    const expiresAt = checkExpiry(input.expiresAt);
    const hash = input.password == null ? null : await hashPassword(checkPasswordStrength(input.password));
    const now = new Date(this.deps.clock.now());
    const run = (fn: (tx: SqlClient) => Promise<User>) => (within ? fn(within) : this.deps.sql.transaction(fn));
    return run(async (tx) => {
      const taken = await tx.query("SELECT 1 FROM users WHERE name = $1", [name]);
      if (taken.length > 0) throw conflict("USER_EXISTS", `user ${name} already exists`);
      const rows = await tx.query<UserRow>(
        `INSERT INTO users (id, name, roles, groups, password_hash, must_change_password, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (name) DO NOTHING RETURNING *`,
        [randomUUID(), name, roles, groups, hash, input.mustChangePassword ?? hash !== null, expiresAt, now],
      );
      // A concurrent create of the same name can commit between the check above and here.
      if (rows.length === 0) throw conflict("USER_EXISTS", `user ${name} already exists`);
      await this.deps.audit.append(tx, {
        actor,
        target: name,
        type: "user.created",
        data: { userName: name, roles, groups, expiresAt: expiresAt ? iso(expiresAt) : null },
      });
      return toUser(rows[0] as UserRow);
    });
  }

  async update(actor: Actor, name: string, changes: UserChanges): Promise<User> {
    const roles = changes.roles === undefined ? undefined : checkRoles(changes.roles);
    const groups = changes.groups === undefined ? undefined : checkGroups(changes.groups);
    const expiresAt = changes.expiresAt === undefined ? undefined : checkExpiry(changes.expiresAt);
    const hash = changes.password === undefined ? undefined : await hashPassword(checkPasswordStrength(changes.password));
    const now = this.deps.clock.now();
    return inTransaction(this.deps, async (tx, emit) => {
      const current = await this.rowByName(tx, name, true);
      if (changes.disabled === true && current.id === actor.id) throw invalid("SELF_DISABLE", "you cannot disable your own account");
      const rows = await tx.query<UserRow>(
        `UPDATE users SET roles = COALESCE($2, roles), groups = COALESCE($3, groups),
           expires_at = CASE WHEN $4::boolean THEN $5::timestamptz ELSE expires_at END,
           disabled_at = CASE WHEN $6::boolean IS NULL THEN disabled_at WHEN $6 THEN COALESCE(disabled_at, $8) ELSE NULL END,
           password_hash = COALESCE($7, password_hash),
           must_change_password = CASE WHEN $7::text IS NULL THEN must_change_password ELSE $9 END,
           updated_at = $8
         WHERE id = $1 RETURNING *`,
        [current.id, roles ?? null, groups ?? null, expiresAt !== undefined, expiresAt ?? null, changes.disabled ?? null,
          hash ?? null, new Date(now), actor.id !== current.id],
      );
      const user = toUser(rows[0] as UserRow);
      const audited: Record<string, unknown> = { ...changes };
      if ("password" in audited) audited.password = "(changed)";
      await this.deps.audit.append(tx, { actor: actor.name, target: name, type: "user.updated", data: { userName: name, changes: audited } });
      if (hash !== undefined || changes.disabled === true) {
        await tx.query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL", [current.id, new Date(now)]);
      }
      if (changes.disabled === true) {
        await endGrants(this.deps, tx, { userId: user.id }, "revoked", actor.name, "user disabled", emit);
      } else if (expiresAt) {
        await this.clampGrants(tx, actor.name, user, Math.max(expiresAt.getTime(), now), emit);
      }
      emit({ type: "user.changed", userId: user.id, userName: user.name });
      return user;
    });
  }

  // A contractor's end moved earlier: open grants must not outlive it. Those already
  // started end at that instant through the expiry clock; those not yet started never will.
  private async clampGrants(tx: SqlClient, actor: string, user: User, endMs: number, emit: (e: BusEvent) => void) {
    const end = new Date(endMs);
    const rows = await tx.query<{ id: string; not_before: Date; not_after: Date; login: string; target_name: string }>(
      `UPDATE grants g SET not_after = $2 FROM targets t
       WHERE t.id = g.target_id AND g.user_id = $1 AND g.ended_at IS NULL AND g.not_after > $2 AND g.not_before < $2
       RETURNING g.id, g.not_before, g.not_after, g.login, t.name AS target_name`,
      [user.id, end],
    );
    for (const r of rows) {
      emit({
        type: "grant.scheduled", grantId: r.id, userId: user.id, userName: user.name, targetName: r.target_name, login: r.login,
        notBefore: iso(r.not_before), notAfter: iso(r.not_after),
      });
    }
    const unstarted = await tx.query<{ id: string }>(
      "SELECT id FROM grants WHERE user_id = $1 AND ended_at IS NULL AND not_before >= $2",
      [user.id, end],
    );
    if (unstarted.length > 0) {
      await endGrants(this.deps, tx, { ids: unstarted.map((r) => r.id) }, "expired", actor, "user expires before the grant starts", emit);
    }
  }

  async changeOwnPassword(actor: Actor, password: string): Promise<void> {
    const hash = await hashPassword(checkPasswordStrength(password));
    await inTransaction(this.deps, async (tx) => {
      const now = new Date(this.deps.clock.now());
      await tx.query("UPDATE users SET password_hash = $2, must_change_password = false, updated_at = $3 WHERE id = $1", [actor.id, hash, now]);
      // Whoever may have learnt the old password may also hold a token made with it.
      await tx.query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL", [actor.id, now]);
      await this.deps.audit.append(tx, { actor: actor.name, target: actor.name, type: "auth.password_changed", data: { userName: actor.name, by: actor.name } });
    });
  }

  async get(name: string): Promise<User> {
    return toUser(await this.rowByName(this.deps.sql, name, false));
  }

  async list(): Promise<User[]> {
    const rows = await this.deps.sql.query<UserRow>("SELECT * FROM users ORDER BY name");
    return rows.map(toUser);
  }

  async rowByName(sql: SqlClient, name: string, lock: boolean): Promise<UserRow> {
    const rows = await sql.query<UserRow>(`SELECT * FROM users WHERE name = $1${lock ? " FOR UPDATE" : ""}`, [name]);
    const row = rows[0];
    if (!row) throw notFound("USER_NOT_FOUND", `no user named ${JSON.stringify(name)}; list them with: jitgate users`);
    return row;
  }

  async count(): Promise<number> {
    const rows = await this.deps.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM users");
    return rows[0]?.n ?? 0;
  }
}

/** Why a user may not act right now, or null when they may. */
export function userBlock(user: { expiresAt: Date | null; disabledAt: Date | null }, now: number): "expired" | "disabled" | null {
  if (user.disabledAt) return "disabled";
  if (user.expiresAt && user.expiresAt.getTime() <= now) return "expired";
  return null;
}
