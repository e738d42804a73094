// Access requests: ask → approvals → grant. The rules of who may decide what live in
// request-state.ts and policy-eval.ts; this file keeps them atomic against the store.
import { randomUUID } from "node:crypto";
import { inTransaction, iso, type Actor, type ControlDeps } from "./context.js";
import { ControlError, conflict, forbidden, invalid, notFound } from "./errors.js";
import { parseDuration } from "./duration.js";
import { extendGrant, issueGrant, lockExtendable, type ApprovedRequest } from "./grant-issue.js";
import { checkLogin, checkName, checkReason } from "./names.js";
import { checkApprover, evaluateRequest, type Subject } from "./policy-eval.js";
import type { PolicyStore } from "./policy-store.js";
import type { SqlClient } from "./ports.js";
import { nextState, type RequestAction, type RequestState } from "./request-state.js";
import { REQUEST_SELECT, toRequest, type AccessRequest, type RequestRow } from "./request-view.js";
import { userBlock, toUser, type UserRow } from "./users.js";

const MAX_START_DELAY_MS = 30 * 24 * 3600_000;

export interface NewRequest {
  target: unknown;
  login: unknown;
  duration: unknown;
  reason?: unknown;
  startAt?: unknown;
}

export const canSeeAll = (actor: Actor) => actor.roles.some((r) => r === "admin" || r === "approver" || r === "auditor");
const subjectOf = (r: { id: string; name: string; roles: string[]; groups: string[] }): Subject => ({ id: r.id, name: r.name, roles: r.roles, groups: r.groups });

export class RequestService {
  constructor(
    private readonly deps: ControlDeps,
    private readonly policies: PolicyStore,
  ) {}

  async create(actor: Actor, input: NewRequest): Promise<AccessRequest> {
    const targetName = checkName("target", input.target);
    const login = checkLogin(input.login);
    return this.open(actor, { targetName, login, input, extendsGrantId: null });
  }

  async extend(actor: Actor, grantId: string, input: { duration: unknown; reason?: unknown }): Promise<AccessRequest> {
    const rows = await this.deps.sql.query<{ user_id: string; target_name: string; login: string }>(
      "SELECT g.user_id, t.name AS target_name, g.login FROM grants g JOIN targets t ON t.id = g.target_id WHERE g.id = $1",
      [checkUuid(grantId, "grant")],
    );
    const g = rows[0];
    if (!g || (g.user_id !== actor.id && !canSeeAll(actor))) throw notFound("GRANT_NOT_FOUND", `no grant ${grantId}; list yours with: jitgate grants`);
    if (g.user_id !== actor.id) throw forbidden("NOT_GRANTEE", "only the grant's holder can ask to extend it");
    return this.open(actor, { targetName: g.target_name, login: g.login, input: { ...input, target: g.target_name, login: g.login }, extendsGrantId: grantId });
  }

  private async open(actor: Actor, o: { targetName: string; login: string; input: NewRequest; extendsGrantId: string | null }): Promise<AccessRequest> {
    if (typeof o.input.duration !== "string") throw invalid("INVALID_DURATION", "duration is required, like 30m, 2h or 1d");
    const durationMs = parseDuration(o.input.duration);
    const reason = checkReason(o.input.reason, false);
    const now = this.deps.clock.now();
    const startsAt = parseStart(o.input.startAt, now);
    const id = await inTransaction(this.deps, async (tx, emit) => {
      const user = toUser(await userRow(tx, actor.id));
      const block = userBlock(user, now);
      if (block) throw forbidden(block === "expired" ? "USER_EXPIRED" : "USER_DISABLED", `account ${user.name} is ${block} and cannot request access`);
      if (user.expiresAt && user.expiresAt.getTime() <= (startsAt ?? now)) {
        throw invalid("USER_EXPIRES_BEFORE_START", `your account ends at ${iso(user.expiresAt)}, before the requested start`);
      }
      const targets = await tx.query<{ id: string; name: string; labels: Record<string, string> }>("SELECT id, name, labels FROM targets WHERE name = $1", [o.targetName]);
      const target = targets[0];
      if (!target) throw notFound("TARGET_NOT_FOUND", `no target named ${o.targetName}; list them with: jitgate targets`);
      const accounts = await tx.query("SELECT 1 FROM accounts WHERE target_id = $1 AND login = $2", [target.id, o.login]);
      if (accounts.length === 0) {
        throw notFound("ACCOUNT_NOT_FOUND", `${o.targetName} has no account ${o.login}; see its accounts with: jitgate accounts ${o.targetName}`);
      }
      if (o.extendsGrantId) await lockExtendable(this.deps, tx, o.extendsGrantId);
      const stored = await this.policies.active(tx);
      const decision = evaluateRequest(stored.map((p) => p.spec), {
        user: subjectOf(user), target: { name: target.name, labels: target.labels }, login: o.login, durationMs, reason, at: new Date(now),
      });
      const policy = stored.find((p) => p.spec.name === decision.policy.name);
      if (!policy) throw new Error(`evaluated policy ${decision.policy.name} is not among the active ones`);
      // Two identical asks at once must not both pass the check below: serialise them.
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('jitgate.request'), hashtext($1::text))", [`${user.id}/${target.id}/${o.login}`]);
      const dup = await tx.query<{ id: string }>(
        `SELECT id FROM requests WHERE user_id = $1 AND target_id = $2 AND login = $3 AND state = 'pending' AND expires_at > $4
           AND extends_grant_id IS NOT DISTINCT FROM $5`,
        [user.id, target.id, o.login, new Date(now), o.extendsGrantId],
      );
      if (dup[0]) throw conflict("DUPLICATE_REQUEST", `you already have a pending request ${dup[0].id} for ${o.login}@${o.targetName}; cancel it with: jitgate cancel ${dup[0].id}`);
      const id = randomUUID();
      await tx.query(
        `INSERT INTO requests (id, user_id, target_id, login, duration_ms, reason, starts_at, extends_grant_id, policy_name, policy_version,
           approvals_required, state, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12, $13)`,
        [id, user.id, target.id, o.login, durationMs, reason, startsAt === null ? null : new Date(startsAt), o.extendsGrantId,
          policy.name, policy.version, decision.approvalsRequired, new Date(now), new Date(now + policy.spec.requestTtlMs)],
      );
      await this.deps.audit.append(tx, {
        actor: user.name,
        target: target.name,
        type: "request.created",
        data: { requestId: id, userName: user.name, targetName: target.name, login: o.login, durationMs, reason,
          startsAt: startsAt === null ? null : iso(startsAt), extendsGrantId: o.extendsGrantId, policyName: policy.name, approvalsRequired: decision.approvalsRequired },
      });
      if (decision.autoApproved) {
        await this.markApproved(tx, id, `policy:${policy.name}`, now);
        await this.grant(tx, id, policy.spec.session, true, emit);
      }
      return id;
    });
    return this.get(actor, id);
  }

  async approve(actor: Actor, id: string, reason?: unknown): Promise<AccessRequest> {
    const note = checkReason(reason, false);
    return this.decide(actor, id, "approve", note);
  }

  async deny(actor: Actor, id: string, reason: unknown): Promise<AccessRequest> {
    return this.decide(actor, id, "deny", checkReason(reason, true));
  }

  async cancel(actor: Actor, id: string): Promise<AccessRequest> {
    return this.decide(actor, id, "cancel", "");
  }

  private async decide(actor: Actor, id: string, kind: "approve" | "deny" | "cancel", note: string): Promise<AccessRequest> {
    checkUuid(id, "request");
    const now = this.deps.clock.now();
    const expired = await inTransaction(this.deps, async (tx, emit) => {
      const rows = await tx.query<RequestRow>(`${REQUEST_SELECT} WHERE r.id = $1 FOR UPDATE OF r`, [id]);
      const row = rows[0];
      if (!row || (kind === "cancel" && row.user_id !== actor.id && !canSeeAll(actor))) throw notFound("REQUEST_NOT_FOUND", `no request ${id}; list them with: jitgate requests`);
      const votes = await tx.query<{ approver_id: string; decision: "approve" | "deny" }>("SELECT approver_id, decision FROM approvals WHERE request_id = $1", [id]);
      const facts = {
        state: row.state, requesterId: row.user_id, expiresAt: row.expires_at.getTime(), approvalsRequired: row.approvals_required,
        votes: votes.map((v) => ({ approverId: v.approver_id, decision: v.decision })),
      };
      if (facts.state === "pending" && now >= facts.expiresAt) {
        await this.expireOne(tx, id, now);
        return true;
      }
      const action: RequestAction = kind === "cancel" ? { kind, actorId: actor.id, at: now } : { kind, actorId: actor.id, at: now };
      const t = nextState(facts, action);
      if (kind === "cancel") {
        await tx.query("UPDATE requests SET state = 'cancelled', decided_at = $2, decided_by = $3 WHERE id = $1", [id, new Date(now), actor.name]);
        await this.deps.audit.append(tx, { actor: actor.name, target: row.target_name, type: "request.cancelled", data: { requestId: id } });
        return false;
      }
      const spec = await this.policies.version(tx, row.policy_name, row.policy_version);
      const requester = toUser(await userRow(tx, row.user_id));
      checkApprover(spec, subjectOf(actor), subjectOf(requester));
      if (row.extends_grant_id && kind === "approve") await lockExtendable(this.deps, tx, row.extends_grant_id);
      await tx.query("INSERT INTO approvals (request_id, approver_id, decision, reason, at) VALUES ($1, $2, $3, $4, $5)", [
        id, actor.id, kind, note || null, new Date(now),
      ]);
      if (kind === "deny") {
        await tx.query("UPDATE requests SET state = 'denied', decided_at = $2, decided_by = $3, decision_reason = $4 WHERE id = $1", [id, new Date(now), actor.name, note]);
        await this.deps.audit.append(tx, { actor: actor.name, target: row.target_name, type: "request.denied", data: { requestId: id, approverName: actor.name, reason: note } });
        return false;
      }
      await this.deps.audit.append(tx, {
        actor: actor.name, target: row.target_name, type: "request.approved",
        data: { requestId: id, approverName: actor.name, approvals: t.approvals, approvalsRequired: row.approvals_required },
      });
      if (t.state === "approved") {
        await this.markApproved(tx, id, actor.name, now);
        await this.grant(tx, id, spec.session, false, emit);
      }
      return false;
    });
    if (expired) throw new ControlError("REQUEST_EXPIRED", "gone", `request ${id} expired before it was decided: the requester can ask again`);
    return this.get(actor, id);
  }

  private async markApproved(tx: SqlClient, id: string, by: string, now: number) {
    await tx.query("UPDATE requests SET state = 'approved', decided_at = $2, decided_by = $3 WHERE id = $1", [id, new Date(now), by]);
  }

  private async grant(tx: SqlClient, id: string, session: Parameters<typeof issueGrant>[3], auto: boolean, emit: Parameters<typeof issueGrant>[5]) {
    const rows = await tx.query<ApprovedRequest & RequestRow>(`${REQUEST_SELECT} WHERE r.id = $1`, [id]);
    const req = rows[0] as ApprovedRequest;
    return req.extends_grant_id ? extendGrant(this.deps, tx, req, emit) : issueGrant(this.deps, tx, req, session, auto, emit);
  }

  private async expireOne(tx: SqlClient, id: string, now: number) {
    const rows = await tx.query<{ target_name: string }>(
      `UPDATE requests r SET state = 'expired', decided_at = $2, decided_by = 'system' FROM targets t
       WHERE r.id = $1 AND r.state = 'pending' AND t.id = r.target_id RETURNING t.name AS target_name`,
      [id, new Date(now)],
    );
    if (rows[0]) await this.deps.audit.append(tx, { actor: "system", target: rows[0].target_name, type: "request.expired", data: { requestId: id } });
  }

  /** Marks every pending request past its TTL as expired; the sweep calls this. */
  async expireDue(): Promise<number> {
    const now = this.deps.clock.now();
    const due = await this.deps.sql.query<{ id: string }>("SELECT id FROM requests WHERE state = 'pending' AND expires_at <= $1 LIMIT 1000", [new Date(now)]);
    for (const { id } of due) await this.deps.sql.transaction((tx) => this.expireOne(tx, id, now));
    return due.length;
  }

  async get(actor: Actor, id: string): Promise<AccessRequest> {
    const rows = await this.deps.sql.query<RequestRow>(`${REQUEST_SELECT} WHERE r.id = $1`, [checkUuid(id, "request")]);
    const row = rows[0];
    if (!row || (row.user_id !== actor.id && !canSeeAll(actor))) throw notFound("REQUEST_NOT_FOUND", `no request ${id}; list them with: jitgate requests`);
    return toRequest(row, this.deps.clock.now());
  }

  async list(actor: Actor, filter: { state?: RequestState; mine?: boolean; limit?: number }): Promise<AccessRequest[]> {
    const onlyMine = filter.mine === true || !canSeeAll(actor);
    const limit = Math.min(Math.max(filter.limit ?? 200, 1), 1000);
    const now = new Date(this.deps.clock.now());
    const rows = await this.deps.sql.query<RequestRow>(
      `${REQUEST_SELECT} WHERE ($1::uuid IS NULL OR r.user_id = $1)
         AND ($2::text IS NULL OR (CASE WHEN r.state = 'pending' AND r.expires_at <= $4 THEN 'expired' ELSE r.state END) = $2)
       ORDER BY r.created_at DESC LIMIT $3`,
      [onlyMine ? actor.id : null, filter.state ?? null, limit, now],
    );
    return rows.map((r) => toRequest(r, now.getTime()));
  }
}

async function userRow(tx: SqlClient, id: string): Promise<UserRow> {
  const rows = await tx.query<UserRow>("SELECT * FROM users WHERE id = $1", [id]);
  if (!rows[0]) throw notFound("USER_NOT_FOUND", "user no longer exists");
  return rows[0];
}

function parseStart(value: unknown, now: number): number | null {
  if (value === undefined || value === null || value === "") return null;
  const t = typeof value === "string" ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw invalid("INVALID_START", `start ${JSON.stringify(value)} is not a time: use ISO 8601, like 2027-01-05T09:00:00Z`);
  if (t < now - 60_000) throw invalid("INVALID_START", "the requested start is in the past");
  if (t > now + MAX_START_DELAY_MS) throw invalid("INVALID_START", "the requested start is more than 30 days away");
  return t <= now ? null : t;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function checkUuid(id: unknown, what: string): string {
  if (typeof id !== "string" || !UUID.test(id)) throw invalid("INVALID_ID", `${JSON.stringify(id)} is not a ${what} id`);
  return id.toLowerCase();
}
