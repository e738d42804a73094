import { conflict, ControlError, forbidden } from "./errors.js";

export type RequestState = "pending" | "approved" | "denied" | "cancelled" | "expired";

export interface Vote {
  approverId: string;
  decision: "approve" | "deny";
}

export interface RequestFacts {
  state: RequestState;
  requesterId: string;
  /** Epoch milliseconds after which a pending request can no longer be decided. */
  expiresAt: number;
  approvalsRequired: number;
  votes: Vote[];
}

export type RequestAction =
  | { kind: "approve"; actorId: string; at: number }
  | { kind: "deny"; actorId: string; at: number }
  | { kind: "cancel"; actorId: string; at: number }
  | { kind: "expire"; at: number };

export interface Transition {
  state: RequestState;
  /** The vote to record, for approve and deny; null otherwise. */
  vote: Vote | null;
  /** Distinct approving voters after the action. */
  approvals: number;
}

/** Distinct approvers; the requester never counts, even if stored data says otherwise. */
function countApprovals(votes: readonly Vote[], requesterId: string): number {
  const ids = new Set<string>();
  for (const v of votes) if (v.decision === "approve" && v.approverId !== requesterId) ids.add(v.approverId);
  return ids.size;
}

/**
 * The request state machine, without storage or clock: the caller loads the facts,
 * applies the transition in the same transaction, and persists the vote it returns.
 * Whether the actor may approve under the policy at all is checkApprover's business.
 */
export function nextState(facts: RequestFacts, action: RequestAction): Transition {
  if (facts.state !== "pending") {
    throw conflict("REQUEST_DECIDED", `request is already ${facts.state}`);
  }
  const approvals = countApprovals(facts.votes, facts.requesterId);
  const due = action.at >= facts.expiresAt;

  if (action.kind === "expire") {
    if (!due) throw conflict("REQUEST_NOT_DUE", `request does not expire until ${new Date(facts.expiresAt).toISOString()}`);
    return { state: "expired", vote: null, approvals };
  }
  if (due) {
    throw new ControlError("REQUEST_EXPIRED", "gone", `request expired at ${new Date(facts.expiresAt).toISOString()}; ask again`);
  }

  if (action.kind === "cancel") {
    if (action.actorId !== facts.requesterId) throw forbidden("NOT_REQUESTER", "only the requester can cancel a request");
    return { state: "cancelled", vote: null, approvals };
  }

  if (action.actorId === facts.requesterId) {
    throw forbidden("SELF_APPROVAL", "you cannot approve or deny your own request");
  }
  if (facts.votes.some((v) => v.approverId === action.actorId)) {
    throw conflict("ALREADY_VOTED", "you have already voted on this request");
  }
  if (action.kind === "deny") {
    return { state: "denied", vote: { approverId: action.actorId, decision: "deny" }, approvals };
  }
  const after = approvals + 1;
  return {
    state: after >= facts.approvalsRequired ? "approved" : "pending",
    vote: { approverId: action.actorId, decision: "approve" },
    approvals: after,
  };
}
