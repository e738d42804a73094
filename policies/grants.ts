// Grants: reading them, revoking them, and the connect-time check every engine makes.
import { inTransaction, type Actor, type ControlDeps } from "./context.js";
import { ControlError, forbidden, notFound } from "./errors.js";
import { endGrants } from "./grant-end.js";
import { checkReason } from "./names.js";
import type { SessionOptions } from "./policy-model.js";
import { canSeeAll, checkUuid } from "./requests.js";
import type { GrantEndReason } from "./bus-events.js";

export type GrantState = "scheduled" | "active" | "ended";

export interface Grant {
  id: string;
  requestId: string;
  user: string;
  target: string;
  targetKind: string;
  login: string;
  notBefore: string;
  notAfter: string;
  sessionOptions: SessionOptions;
  state: GrantState;
  createdAt: string;
  endedAt: string | null;
  endReason: GrantEndReason | null;
  endedBy: string | null;
  endNote: string | null;
}

interface GrantRow {
  id: string;
  request_id: string;
  user_id: string;
  user_name: string;
  target_name: string;
  target_kind: string;
  login: string;
  not_before: Date;
  not_after: Date;
  session_options: SessionOptions;
  created_at: Date;
  ended_at: Date | null;
  end_reason: GrantEndReason | null;
  ended_by: string | null;
  end_note: string | null;
  [k: string]: unknown;
}

const GRANT_SELECT = `
SELECT g.*, u.name AS user_name, t.name AS target_name, t.kind AS target_kind
FROM grants g JOIN users u ON u.id = g.user_id JOIN targets t ON t.id = g.target_id`;

function toGrant(r: GrantRow, now: number): Grant {
  const ended = r.ended_at !== null || r.not_after.getTime() <= now;
  return {
    id: r.id,
    requestId: r.request_id,
    user: r.user_name,
    target: r.target_name,
    targetKind: r.target_kind,
    login: r.login,
    notBefore: r.not_before.toISOString(),
    notAfter: r.not_after.toISOString(),
    sessionOptions: r.session_options,
    state: ended ? "ended" : r.not_before.getTime() > now ? "scheduled" : "active",
    createdAt: r.created_at.toISOString(),
    endedAt: r.ended_at?.toISOString() ?? (ended ? r.not_after.toISOString() : null),
    endReason: r.end_reason ?? (ended ? "expired" : null),
    endedBy: r.ended_by,
    endNote: r.end_note,
  };
}

/** What an engine learns when a connection is allowed. */
export interface LiveGrant {
  grantId: string;
  userId: string;
  userName: string;
  targetId: string;
  targetName: string;
  targetKind: string;
  host: string;
  port: number;
  login: string;
  accountId: string;
  accountAuth: string;
  notAfter: Date;
  sessionOptions: SessionOptions;
}

export class GrantService {
  constructor(private readonly deps: ControlDeps) {}

  async list(actor: Actor, filter: { active?: boolean; user?: string; limit?: number }): Promise<Grant[]> {
    const now = this.deps.clock.now();
    const userFilter = canSeeAll(actor) ? (filter.user ?? null) : actor.name;
    const rows = await this.deps.sql.query<GrantRow>(
      `${GRANT_SELECT} WHERE ($1::text IS NULL OR u.name = $1)
         AND (NOT $2::boolean OR (g.ended_at IS NULL AND g.not_after > $3))
       ORDER BY g.created_at DESC LIMIT $4`,
      [userFilter, filter.active === true, new Date(now), Math.min(Math.max(filter.limit ?? 200, 1), 1000)],
    );
    return rows.map((r) => toGrant(r, now));
  }

  async get(actor: Actor, id: string): Promise<Grant> {
    const rows = await this.deps.sql.query<GrantRow>(`${GRANT_SELECT} WHERE g.id = $1`, [checkUuid(id, "grant")]);
    const row = rows[0];
    if (!row || (row.user_id !== actor.id && !canSeeAll(actor))) throw notFound("GRANT_NOT_FOUND", `no grant ${id}; list them with: jitgate grants`);
    return toGrant(row, this.deps.clock.now());
  }

  /** Approvers and admins revoke any grant; a holder may give up their own. */
  async revoke(actor: Actor, id: string, reason?: unknown): Promise<Grant> {
    const note = checkReason(reason, false);
    const grant = await this.get(actor, id);
    const mayRevoke = actor.roles.includes("admin") || actor.roles.includes("approver") || grant.user === actor.name;
    if (!mayRevoke) throw forbidden("NOT_ALLOWED", "only approvers, admins or the grant's holder can revoke it");
    if (grant.state === "ended") throw new ControlError("GRANT_ENDED", "conflict", `grant ${id} has already ended (${grant.endReason})`);
    const ended = await inTransaction(this.deps, (tx, emit) => endGrants(this.deps, tx, { ids: [grant.id] }, "revoked", actor.name, note || null, emit));
    // Another revocation (or the expiry clock) got there between the read above and now.
    if (ended.length === 0) throw new ControlError("GRANT_ENDED", "conflict", `grant ${id} has already ended`);
    return this.get(actor, id);
  }

  /**
   * The connect-time check: is there, at this instant, a grant for this user on this
   * target and login, held by a user who is neither expired nor disabled?
   */
  async findLive(userName: string, targetName: string, login: string): Promise<LiveGrant | null> {
    const now = new Date(this.deps.clock.now());
    const rows = await this.deps.sql.query<{
      id: string; user_id: string; user_name: string; target_id: string; target_name: string; target_kind: string; host: string; port: number;
      login: string; account_id: string; auth: string; not_after: Date; session_options: SessionOptions;
    }>(
      "SELECT * FROM jitgate_live_grant($1, $2, $3, $4)",
      [userName, targetName, login, now],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      grantId: r.id, userId: r.user_id, userName: r.user_name, targetId: r.target_id, targetName: r.target_name, targetKind: r.target_kind,
      host: r.host, port: r.port, login: r.login, accountId: r.account_id, accountAuth: r.auth, notAfter: r.not_after, sessionOptions: r.session_options,
    };
  }

  /** Every grant not yet ended (live or scheduled), for reconciling what targets hold. */
  async openIds(): Promise<Set<string>> {
    const rows = await this.deps.sql.query<{ id: string }>("SELECT id FROM grants WHERE ended_at IS NULL AND not_after > $1", [new Date(this.deps.clock.now())]);
    return new Set(rows.map((r) => r.id));
  }

  /** findLive, or an error whose message tells the person what to do next. */
  async requireLive(userName: string, targetName: string, login: string): Promise<LiveGrant> {
    const live = await this.findLive(userName, targetName, login);
    if (live) return live;
    throw forbidden(
      "NO_ACTIVE_GRANT",
      `no active grant for ${login}@${targetName}: request one with: jitgate request ${targetName} --login ${login} --for 30m --reason "..."`,
    );
  }
}
