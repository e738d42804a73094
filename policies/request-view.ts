// How a request reads back: one SELECT shared by every path, and its public shape.
import type { RequestState } from "./request-state.js";

export const REQUEST_SELECT = `
SELECT r.*, u.name AS user_name, u.expires_at AS user_expires_at, t.name AS target_name,
  (SELECT coalesce(json_agg(json_build_object('approver', au.name, 'decision', a.decision, 'reason', a.reason, 'at', a.at) ORDER BY a.at), '[]'::json)
     FROM approvals a JOIN users au ON au.id = a.approver_id WHERE a.request_id = r.id) AS votes
FROM requests r JOIN users u ON u.id = r.user_id JOIN targets t ON t.id = r.target_id`;

export interface RequestRow {
  id: string;
  user_id: string;
  user_name: string;
  target_id: string;
  target_name: string;
  login: string;
  duration_ms: number | string;
  reason: string;
  starts_at: Date | null;
  extends_grant_id: string | null;
  policy_name: string;
  policy_version: number;
  approvals_required: number;
  state: RequestState;
  created_at: Date;
  expires_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  decision_reason: string | null;
  grant_id: string | null;
  votes: { approver: string; decision: "approve" | "deny"; reason: string | null; at: string }[];
  [k: string]: unknown;
}

export interface AccessRequest {
  id: string;
  user: string;
  target: string;
  login: string;
  durationMs: number;
  reason: string;
  startsAt: string | null;
  extendsGrantId: string | null;
  policy: string;
  policyVersion: number;
  approvalsRequired: number;
  approvals: { approver: string; decision: "approve" | "deny"; reason: string | null; at: string }[];
  state: RequestState;
  createdAt: string;
  expiresAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
  decisionReason: string | null;
  grantId: string | null;
}

export function toRequest(r: RequestRow, now: number): AccessRequest {
  // A pending request past its TTL reads as expired even before the sweep marks it.
  const state: RequestState = r.state === "pending" && r.expires_at.getTime() <= now ? "expired" : r.state;
  return {
    id: r.id,
    user: r.user_name,
    target: r.target_name,
    login: r.login,
    durationMs: Number(r.duration_ms),
    reason: r.reason,
    startsAt: r.starts_at?.toISOString() ?? null,
    extendsGrantId: r.extends_grant_id,
    policy: r.policy_name,
    policyVersion: r.policy_version,
    approvalsRequired: r.approvals_required,
    approvals: r.votes.map((v) => ({ ...v, at: new Date(v.at).toISOString() })),
    state,
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    decidedAt: r.decided_at?.toISOString() ?? null,
    decidedBy: r.decided_by,
    decisionReason: r.decision_reason,
    grantId: r.grant_id,
  };
}
