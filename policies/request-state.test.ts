import { describe, expect, it } from "vitest";
import { ControlError } from "./errors.js";
import { nextState, type RequestAction, type RequestFacts, type Transition, type Vote } from "./request-state.js";

const T0 = Date.parse("2024-01-10T12:00:00Z");
const TTL = 24 * 3_600_000;

const facts = (f: Partial<RequestFacts> = {}): RequestFacts => ({
  state: "pending",
  requesterId: "alice",
  expiresAt: T0 + TTL,
  approvalsRequired: 1,
  votes: [],
  ...f,
});
const approve = (actorId: string, at = T0 + 1000): RequestAction => ({ kind: "approve", actorId, at });
const deny = (actorId: string, at = T0 + 1000): RequestAction => ({ kind: "deny", actorId, at });
const cancel = (actorId: string, at = T0 + 1000): RequestAction => ({ kind: "cancel", actorId, at });
const expire = (at: number): RequestAction => ({ kind: "expire", at });
const yes = (approverId: string): Vote => ({ approverId, decision: "approve" });
const no = (approverId: string): Vote => ({ approverId, decision: "deny" });

interface Row {
  name: string;
  facts: RequestFacts;
  action: RequestAction;
  want: Transition | { code: string; kind: string; message?: string };
}

const rows: Row[] = [
  { name: "one approval of one", facts: facts(), action: approve("ann"), want: { state: "approved", vote: yes("ann"), approvals: 1 } },
  { name: "first of two stays pending", facts: facts({ approvalsRequired: 2 }), action: approve("ann"), want: { state: "pending", vote: yes("ann"), approvals: 1 } },
  { name: "second of two approves", facts: facts({ approvalsRequired: 2, votes: [yes("ann")] }), action: approve("bob"), want: { state: "approved", vote: yes("bob"), approvals: 2 } },
  { name: "2 of 3 stays pending", facts: facts({ approvalsRequired: 3, votes: [yes("ann")] }), action: approve("bob"), want: { state: "pending", vote: yes("bob"), approvals: 2 } },
  {
    name: "a duplicate vote is refused, not counted twice",
    facts: facts({ approvalsRequired: 2, votes: [yes("ann")] }),
    action: approve("ann"),
    want: { code: "ALREADY_VOTED", kind: "conflict" },
  },
  {
    name: "duplicate votes already stored count once",
    facts: facts({ approvalsRequired: 3, votes: [yes("ann"), yes("ann")] }),
    action: approve("bob"),
    want: { state: "pending", vote: yes("bob"), approvals: 2 },
  },
  {
    name: "a stored vote by the requester does not count",
    facts: facts({ approvalsRequired: 2, votes: [yes("alice")] }),
    action: approve("ann"),
    want: { state: "pending", vote: yes("ann"), approvals: 1 },
  },
  { name: "an approver may not deny after approving", facts: facts({ approvalsRequired: 2, votes: [yes("ann")] }), action: deny("ann"), want: { code: "ALREADY_VOTED", kind: "conflict" } },
  { name: "deny ends it", facts: facts({ approvalsRequired: 3, votes: [yes("ann"), yes("bob")] }), action: deny("carl"), want: { state: "denied", vote: no("carl"), approvals: 2 } },
  { name: "deny on first vote", facts: facts(), action: deny("ann"), want: { state: "denied", vote: no("ann"), approvals: 0 } },
  { name: "self-approval", facts: facts(), action: approve("alice"), want: { code: "SELF_APPROVAL", kind: "forbidden", message: "you cannot approve or deny your own request" } },
  { name: "self-denial", facts: facts(), action: deny("alice"), want: { code: "SELF_APPROVAL", kind: "forbidden" } },
  { name: "approve a denied request", facts: facts({ state: "denied", votes: [no("ann")] }), action: approve("bob"), want: { code: "REQUEST_DECIDED", kind: "conflict", message: "request is already denied" } },
  { name: "approve an approved request", facts: facts({ state: "approved", votes: [yes("ann")] }), action: approve("bob"), want: { code: "REQUEST_DECIDED", kind: "conflict", message: "request is already approved" } },
  { name: "cancel a cancelled request", facts: facts({ state: "cancelled" }), action: cancel("alice"), want: { code: "REQUEST_DECIDED", kind: "conflict", message: "request is already cancelled" } },
  { name: "expire an expired request", facts: facts({ state: "expired" }), action: expire(T0 + 2 * TTL), want: { code: "REQUEST_DECIDED", kind: "conflict", message: "request is already expired" } },
  { name: "expire an approved request", facts: facts({ state: "approved" }), action: expire(T0 + 2 * TTL), want: { code: "REQUEST_DECIDED", kind: "conflict" } },
  { name: "approve just before the TTL", facts: facts(), action: approve("ann", T0 + TTL - 1), want: { state: "approved", vote: yes("ann"), approvals: 1 } },
  { name: "approve at the TTL is gone", facts: facts(), action: approve("ann", T0 + TTL), want: { code: "REQUEST_EXPIRED", kind: "gone" } },
  { name: "deny past the TTL is gone", facts: facts(), action: deny("ann", T0 + TTL + 5), want: { code: "REQUEST_EXPIRED", kind: "gone" } },
  { name: "cancel past the TTL is gone", facts: facts(), action: cancel("alice", T0 + TTL + 5), want: { code: "REQUEST_EXPIRED", kind: "gone" } },
  { name: "self-approval past the TTL reports the expiry", facts: facts(), action: approve("alice", T0 + TTL), want: { code: "REQUEST_EXPIRED", kind: "gone" } },
  { name: "expire when due", facts: facts({ approvalsRequired: 2, votes: [yes("ann")] }), action: expire(T0 + TTL), want: { state: "expired", vote: null, approvals: 1 } },
  { name: "expire before due", facts: facts(), action: expire(T0 + TTL - 1), want: { code: "REQUEST_NOT_DUE", kind: "conflict" } },
  { name: "cancel by the requester", facts: facts({ approvalsRequired: 2, votes: [yes("ann")] }), action: cancel("alice"), want: { state: "cancelled", vote: null, approvals: 1 } },
  { name: "cancel by someone else", facts: facts(), action: cancel("ann"), want: { code: "NOT_REQUESTER", kind: "forbidden" } },
  { name: "zero approvals required approves on any vote", facts: facts({ approvalsRequired: 0 }), action: approve("ann"), want: { state: "approved", vote: yes("ann"), approvals: 1 } },
];

describe("nextState", () => {
  it.each(rows)("$name", ({ facts: f, action, want }) => {
    if ("code" in want) {
      let caught: unknown;
      try {
        nextState(f, action);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ControlError);
      const err = caught as ControlError;
      expect({ code: err.code, kind: err.kind }).toEqual({ code: want.code, kind: want.kind });
      if (want.message !== undefined) expect(err.message).toBe(want.message);
    } else {
      expect(nextState(f, action)).toEqual(want);
    }
  });

  it("walks 2-of-3 to approval, refusing a repeat on the way", () => {
    let f = facts({ approvalsRequired: 2 });
    const step = (a: RequestAction) => {
      const t = nextState(f, a);
      f = { ...f, state: t.state, votes: t.vote ? [...f.votes, t.vote] : f.votes };
      return t.state;
    };
    expect(step(approve("ann"))).toBe("pending");
    expect(() => step(approve("ann"))).toThrow(expect.objectContaining({ code: "ALREADY_VOTED" }));
    expect(step(approve("bob"))).toBe("approved");
    expect(() => step(approve("carl"))).toThrow(expect.objectContaining({ code: "REQUEST_DECIDED" }));
  });

  it("does not change the facts it was given", () => {
    const f = facts({ votes: [yes("ann")], approvalsRequired: 2 });
    const copy = structuredClone(f);
    nextState(f, approve("bob"));
    expect(f).toEqual(copy);
  });
});
