// Turning an approved request into access: a new grant, or more time on an existing one.
// The grant's clock starts at approval (or the requested later start), never at request time.
import { randomUUID } from "node:crypto";
import type { BusEvent } from "./bus-events.js";
import { iso, type ControlDeps } from "./context.js";
import { ControlError, conflict } from "./errors.js";
import type { SqlClient } from "./ports.js";
import type { SessionOptions } from "./policy-model.js";

export interface ApprovedRequest {
  id: string;
  user_id: string;
  user_name: string;
  user_expires_at: Date | null;
  target_id: string;
  target_name: string;
  login: string;
  duration_ms: number | string;
  starts_at: Date | null;
  extends_grant_id: string | null;
}

export async function issueGrant(
  deps: ControlDeps,
  tx: SqlClient,
  req: ApprovedRequest,
  session: SessionOptions,
  autoApproved: boolean,
  emit: (e: BusEvent) => void,
): Promise<string> {
  const now = deps.clock.now();
  const notBefore = Math.max(now, req.starts_at?.getTime() ?? now);
  let notAfter = notBefore + Number(req.duration_ms);
  const userEnd = req.user_expires_at?.getTime();
  if (userEnd !== undefined) {
    if (userEnd <= notBefore) {
      throw conflict("USER_EXPIRES_BEFORE_START", `${req.user_name}'s account expires before this grant would start`);
    }
    notAfter = Math.min(notAfter, userEnd);
  }
  const id = randomUUID();
  await tx.query(
    `INSERT INTO grants (id, request_id, user_id, target_id, login, not_before, not_after, session_options, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [id, req.id, req.user_id, req.target_id, req.login, new Date(notBefore), new Date(notAfter), JSON.stringify(session), new Date(now)],
  );
  await tx.query("UPDATE requests SET grant_id = $2 WHERE id = $1", [req.id, id]);
  await deps.audit.append(tx, {
    actor: req.user_name,
    target: req.target_name,
    type: "grant.created",
    data: { grantId: id, requestId: req.id, userName: req.user_name, targetName: req.target_name, login: req.login, notBefore: iso(notBefore), notAfter: iso(notAfter), autoApproved },
  });
  emit({ type: "grant.scheduled", grantId: id, userId: req.user_id, userName: req.user_name, targetName: req.target_name, login: req.login, notBefore: iso(notBefore), notAfter: iso(notAfter) });
  return id;
}

/** Checks that a grant can still be extended; run before any vote is recorded. */
export async function lockExtendable(deps: ControlDeps, tx: SqlClient, grantId: string): Promise<{ not_before: Date; not_after: Date }> {
  const rows = await tx.query<{ not_before: Date; not_after: Date; ended_at: Date | null }>(
    "SELECT not_before, not_after, ended_at FROM grants WHERE id = $1 FOR UPDATE",
    [grantId],
  );
  const g = rows[0];
  if (!g || g.ended_at || g.not_after.getTime() <= deps.clock.now()) {
    throw new ControlError("GRANT_ENDED", "gone", `grant ${grantId} has already ended and cannot be extended: request new access with jitgate request`);
  }
  return g;
}

export async function extendGrant(deps: ControlDeps, tx: SqlClient, req: ApprovedRequest, emit: (e: BusEvent) => void): Promise<string> {
  const grantId = req.extends_grant_id as string;
  const g = await lockExtendable(deps, tx, grantId);
  const previous = g.not_after.getTime();
  let notAfter = previous + Number(req.duration_ms);
  const userEnd = req.user_expires_at?.getTime();
  if (userEnd !== undefined) notAfter = Math.min(notAfter, userEnd);
  if (notAfter <= previous) throw conflict("USER_EXPIRES_BEFORE_START", `${req.user_name}'s account ends before the extension would start`);
  const now = new Date(deps.clock.now());
  await tx.query("UPDATE grants SET not_after = $2 WHERE id = $1", [grantId, new Date(notAfter)]);
  await tx.query(
    "INSERT INTO grant_extensions (grant_id, request_id, previous_not_after, new_not_after, at) VALUES ($1, $2, $3, $4, $5)",
    [grantId, req.id, new Date(previous), new Date(notAfter), now],
  );
  await tx.query("UPDATE requests SET grant_id = $2 WHERE id = $1", [req.id, grantId]);
  await deps.audit.append(tx, {
    actor: req.user_name,
    target: req.target_name,
    type: "grant.extended",
    data: { grantId, requestId: req.id, previousNotAfter: iso(previous), notAfter: iso(notAfter) },
  });
  emit({ type: "grant.scheduled", grantId, userId: req.user_id, userName: req.user_name, targetName: req.target_name, login: req.login, notBefore: iso(g.not_before), notAfter: iso(notAfter) });
  return grantId;
}
