// The one path by which a grant ends, whether it expired, was revoked, or its user was
// disabled: mark it ended, write the audit rows, and tell every node.
import type { GrantEndedEvent, GrantEndReason } from "./bus-events.js";
import { iso, type ControlDeps } from "./context.js";
import type { AuditEvent } from "./audit-events.js";
import type { SqlClient } from "./ports.js";

export type Emit = (e: GrantEndedEvent) => void;

export interface EndSelection {
  /** End exactly these grants (when still open). */
  ids?: string[];
  /** End every open grant of this user. */
  userId?: string;
  /** Only those whose notAfter has passed (expiry path; guards against a racing extension). */
  dueBy?: number;
}

interface EndedRow {
  id: string;
  user_id: string;
  user_name: string;
  target_name: string;
  login: string;
  not_after: Date;
  [k: string]: unknown;
}

export async function endGrants(
  deps: ControlDeps,
  tx: SqlClient,
  sel: EndSelection,
  reason: GrantEndReason,
  by: string,
  note: string | null,
  emit: Emit,
): Promise<GrantEndedEvent[]> {
  const now = deps.clock.now();
  const params: unknown[] = [new Date(now), reason, by, note];
  const conds: string[] = ["g.ended_at IS NULL"];
  if (sel.ids) {
    params.push(sel.ids);
    conds.push(`g.id = ANY($${params.length}::uuid[])`);
  }
  if (sel.userId) {
    params.push(sel.userId);
    conds.push(`g.user_id = $${params.length}`);
  }
  if (sel.dueBy !== undefined) {
    params.push(new Date(sel.dueBy));
    conds.push(`g.not_after <= $${params.length}`);
  }
  const rows = await tx.query<EndedRow>(
    `UPDATE grants g SET ended_at = $1, end_reason = $2, ended_by = $3, end_note = $4
     FROM users u, targets t
     WHERE g.user_id = u.id AND g.target_id = t.id AND ${conds.join(" AND ")}
     RETURNING g.id, g.user_id, u.name AS user_name, t.name AS target_name, g.login, g.not_after`,
    params,
  );
  if (rows.length === 0) return [];
  const audit: ({ actor: string; target: string } & AuditEvent)[] = [];
  const events: GrantEndedEvent[] = [];
  for (const r of rows) {
    if (reason === "revoked") {
      audit.push({ actor: by, target: r.target_name, type: "grant.revoked", data: { grantId: r.id, by, reason: note } });
    }
    audit.push({
      actor: by,
      target: r.target_name,
      type: "grant.ended",
      data: { grantId: r.id, userName: r.user_name, targetName: r.target_name, login: r.login, reason, notAfter: iso(r.not_after) },
    });
    const event: GrantEndedEvent = {
      type: "grant.ended",
      grantId: r.id,
      userId: r.user_id,
      userName: r.user_name,
      targetName: r.target_name,
      login: r.login,
      reason,
      notAfter: iso(r.not_after),
      at: iso(now),
    };
    events.push(event);
    emit(event);
  }
  await deps.audit.appendAll(tx, audit);
  return events;
}
