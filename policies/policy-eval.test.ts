import { describe, expect, it } from "vitest";
import { ControlError } from "./errors.js";
import { checkApprover, evaluateRequest, subjectMatches, type Subject, type TargetRef } from "./policy-eval.js";
import type { PolicySpec, SubjectSelector, TimeWindow } from "./policy-model.js";

const H = 3_600_000;
const M = 60_000;

const sel = (s: Partial<SubjectSelector>): SubjectSelector => ({ roles: [], users: [], groups: [], ...s });
const weekdays: TimeWindow["days"] = ["mon", "tue", "wed", "thu", "fri"];

function policy(name: string, p: Partial<PolicySpec> = {}): PolicySpec {
  return {
    name,
    description: null,
    subjects: sel({ roles: ["requester"] }),
    targets: ["web-*"],
    labels: null,
    logins: ["root"],
    maxDurationMs: 2 * H,
    requestTtlMs: 24 * H,
    approvals: { count: 1, from: sel({ roles: ["approver", "admin"] }) },
    requireReason: true,
    autoApprove: [],
    session: { forwarding: false, readOnly: false, statementTimeoutMs: 30_000, redactParameters: false },
    ...p,
  };
}

const user = (name: string, roles: string[], groups: string[] = []): Subject => ({ id: `id-${name}`, name, roles, groups });
const alice = user("alice", ["requester"], ["dev"]);
const olivia = user("olivia", ["requester"], ["oncall"]);
const vic = user("vic", [], ["vendors"]);
const bob = user("bob", []);
const ann = user("ann", ["approver"]);
const adam = user("adam", ["admin", "approver", "requester"]);
const carol = user("carol", ["auditor"], ["dba"]);

const web1: TargetRef = { name: "web-1", labels: { env: "prod", tier: "web" } };
const webStaging: TargetRef = { name: "web-staging", labels: { env: "staging" } };
const db1: TargetRef = { name: "db-1", labels: { env: "prod", kind: "db", region: "eu" } };
const regexy: TargetRef = { name: "web.(eu)", labels: {} };

const lib = {
  webOps: policy("web-ops", { logins: ["root", "deploy-*"] }),
  webOncall: policy("web-oncall", {
    maxDurationMs: 1 * H,
    approvals: { count: 2, from: sel({ roles: ["approver"] }) },
    autoApprove: [{ subjects: sel({ groups: ["oncall"] }), window: null }],
  }),
  prodDb: policy("prod-db", { targets: null, labels: { env: "prod", kind: "db" }, logins: ["app_*"], maxDurationMs: 4 * H, approvals: { count: 2, from: sel({ roles: ["approver"] }) } }),
  staging: policy("staging-web", { subjects: sel({ users: ["bob"] }), labels: { env: "staging" }, logins: ["*"], approvals: { count: 0, from: sel({}) } }),
  vendorBerlin: policy("vendor-hours", {
    subjects: sel({ groups: ["vendors"] }),
    autoApprove: [{ subjects: null, window: { days: weekdays, fromMinute: 9 * 60, toMinute: 18 * 60, timezone: "Europe/Berlin" } }],
  }),
  fridayNight: policy("friday-night", {
    subjects: sel({ groups: ["vendors"] }),
    autoApprove: [{ subjects: null, window: { days: ["fri"], fromMinute: 22 * 60, toMinute: 6 * 60, timezone: "UTC" } }],
  }),
  newYork: policy("new-york", {
    subjects: sel({ groups: ["vendors"] }),
    autoApprove: [{ subjects: null, window: { days: weekdays, fromMinute: 9 * 60, toMinute: 17 * 60, timezone: "America/New_York" } }],
  }),
  noReason: policy("no-reason", { requireReason: false, maxDurationMs: 30 * M }),
  long2: policy("b-long", { maxDurationMs: 8 * H }),
  long2twin: policy("a-long", { maxDurationMs: 8 * H }),
  threeApprovals: policy("three", { maxDurationMs: 24 * H, approvals: { count: 3, from: sel({ roles: ["approver"] }) } }),
  zeroApprovals: policy("zero", { maxDurationMs: 15 * M, approvals: { count: 0, from: sel({ roles: ["approver"] }) } }),
  regexName: policy("regexy", { targets: ["web.(eu)"], subjects: sel({ users: ["alice"] }) }),
};

// 2024-01-10 is a Wednesday; Berlin is UTC+1 in January; New York is UTC-5 in January, UTC-4 in July.
const WED = "2024-01-10T";
const base = { user: alice, target: web1, login: "root", durationMs: 1 * H, reason: "deploy hotfix", at: new Date(`${WED}12:00:00Z`) };
type Input = Parameters<typeof evaluateRequest>[1];

interface Row {
  name: string;
  policies: PolicySpec[];
  input: Partial<Input>;
  want: { policy: string; approvals: number; auto: boolean } | { code: string; kind: string; message?: RegExp };
}

const rows: Row[] = [
  { name: "one matching policy", policies: [lib.webOps], input: {}, want: { policy: "web-ops", approvals: 1, auto: false } },
  { name: "login glob matches", policies: [lib.webOps], input: { login: "deploy-ci" }, want: { policy: "web-ops", approvals: 1, auto: false } },
  { name: "login glob does not match", policies: [lib.webOps], input: { login: "deploy" }, want: { code: "NO_POLICY", kind: "forbidden" } },
  {
    name: "no matching policy names user and login@target",
    policies: [lib.webOps, lib.prodDb],
    input: { login: "postgres" },
    want: { code: "NO_POLICY", kind: "forbidden", message: /^no policy lets alice request postgres@web-1; ask an admin/ },
  },
  { name: "subject does not match", policies: [lib.webOps], input: { user: vic }, want: { code: "NO_POLICY", kind: "forbidden" } },
  { name: "target glob does not match", policies: [lib.webOps], input: { target: db1 }, want: { code: "NO_POLICY", kind: "forbidden" } },
  { name: "glob treats regex characters literally", policies: [lib.regexName], input: { target: regexy }, want: { policy: "regexy", approvals: 1, auto: false } },
  { name: "label selector matches a superset of labels", policies: [lib.prodDb], input: { target: db1, login: "app_ro" }, want: { policy: "prod-db", approvals: 2, auto: false } },
  { name: "label selector needs all labels", policies: [lib.prodDb], input: { target: web1, login: "app_ro" }, want: { code: "NO_POLICY", kind: "forbidden" } },
  { name: "targets and labels both must match", policies: [lib.staging], input: { user: bob, target: webStaging, login: "anyone" }, want: { policy: "staging-web", approvals: 0, auto: true } },
  { name: "targets match but labels do not", policies: [lib.staging], input: { user: bob, target: web1, login: "anyone" }, want: { code: "NO_POLICY", kind: "forbidden" } },
  {
    name: "duration beyond the policy names the largest maximum",
    policies: [lib.webOps, lib.webOncall],
    input: { user: olivia, durationMs: 3 * H },
    want: { code: "DURATION_EXCEEDS_POLICY", kind: "invalid", message: /^3h is longer than .* root@web-1: ask for 2h or less$/ },
  },
  { name: "duration drops the shorter policy", policies: [lib.webOps, lib.webOncall], input: { user: olivia, durationMs: 90 * M }, want: { policy: "web-ops", approvals: 1, auto: false } },
  { name: "duration exactly at the maximum", policies: [lib.webOps], input: { durationMs: 2 * H }, want: { policy: "web-ops", approvals: 1, auto: false } },
  { name: "reason required and missing", policies: [lib.webOps], input: { reason: "" }, want: { code: "REASON_REQUIRED", kind: "invalid", message: /root@web-1/ } },
  { name: "reason of only whitespace", policies: [lib.webOps], input: { reason: " \n\t" }, want: { code: "REASON_REQUIRED", kind: "invalid" } },
  { name: "reason not required by a fallback policy", policies: [lib.webOps, lib.noReason], input: { reason: "", durationMs: 20 * M }, want: { policy: "no-reason", approvals: 1, auto: false } },
  { name: "auto-approve by group", policies: [lib.webOncall], input: { user: olivia }, want: { policy: "web-oncall", approvals: 0, auto: true } },
  { name: "no auto-approve outside the group", policies: [lib.webOncall], input: { user: alice }, want: { policy: "web-oncall", approvals: 2, auto: false } },
  { name: "auto-approved beats fewer approvals", policies: [lib.webOps, lib.webOncall], input: { user: olivia }, want: { policy: "web-oncall", approvals: 0, auto: true } },
  { name: "without auto-approval fewer approvals win", policies: [lib.webOps, lib.webOncall], input: { user: alice }, want: { policy: "web-ops", approvals: 1, auto: false } },
  { name: "window in Berlin, inside (09:30 local)", policies: [lib.vendorBerlin], input: { user: vic, at: new Date(`${WED}08:30:00Z`) }, want: { policy: "vendor-hours", approvals: 0, auto: true } },
  { name: "window in Berlin, outside (08:30 local, 07:30 UTC)", policies: [lib.vendorBerlin], input: { user: vic, at: new Date(`${WED}07:30:00Z`) }, want: { policy: "vendor-hours", approvals: 1, auto: false } },
  { name: "window in Berlin, end is exclusive (18:00 local)", policies: [lib.vendorBerlin], input: { user: vic, at: new Date(`${WED}17:00:00Z`) }, want: { policy: "vendor-hours", approvals: 1, auto: false } },
  { name: "window in Berlin, Saturday", policies: [lib.vendorBerlin], input: { user: vic, at: new Date("2024-01-13T10:00:00Z") }, want: { policy: "vendor-hours", approvals: 1, auto: false } },
  { name: "window in Berlin, local day differs from UTC day", policies: [lib.vendorBerlin], input: { user: vic, at: new Date("2024-01-12T23:30:00Z") }, want: { policy: "vendor-hours", approvals: 1, auto: false } },
  { name: "across midnight, Friday evening", policies: [lib.fridayNight], input: { user: vic, at: new Date("2024-01-12T23:00:00Z") }, want: { policy: "friday-night", approvals: 0, auto: true } },
  { name: "across midnight, Saturday early belongs to Friday", policies: [lib.fridayNight], input: { user: vic, at: new Date("2024-01-13T03:00:00Z") }, want: { policy: "friday-night", approvals: 0, auto: true } },
  { name: "across midnight, Friday early belongs to Thursday", policies: [lib.fridayNight], input: { user: vic, at: new Date("2024-01-12T03:00:00Z") }, want: { policy: "friday-night", approvals: 1, auto: false } },
  { name: "across midnight, Saturday after the end", policies: [lib.fridayNight], input: { user: vic, at: new Date("2024-01-13T06:00:00Z") }, want: { policy: "friday-night", approvals: 1, auto: false } },
  { name: "New York winter, inside (09:30 EST)", policies: [lib.newYork], input: { user: vic, at: new Date("2024-01-08T14:30:00Z") }, want: { policy: "new-york", approvals: 0, auto: true } },
  { name: "New York summer, inside (10:00 EDT)", policies: [lib.newYork], input: { user: vic, at: new Date("2024-07-01T14:00:00Z") }, want: { policy: "new-york", approvals: 0, auto: true } },
  { name: "New York summer, outside though inside in UTC", policies: [lib.newYork], input: { user: vic, at: new Date("2024-07-01T12:00:00Z") }, want: { policy: "new-york", approvals: 1, auto: false } },
  { name: "count 0 is auto-approved", policies: [lib.webOps, lib.zeroApprovals], input: { durationMs: 10 * M }, want: { policy: "zero", approvals: 0, auto: true } },
  { name: "prefer fewer approvals", policies: [lib.threeApprovals, lib.webOps], input: {}, want: { policy: "web-ops", approvals: 1, auto: false } },
  { name: "then larger maxDuration", policies: [lib.webOps, lib.long2], input: {}, want: { policy: "b-long", approvals: 1, auto: false } },
  { name: "then name", policies: [lib.long2, lib.webOps, lib.long2twin], input: {}, want: { policy: "a-long", approvals: 1, auto: false } },
  { name: "among auto-approved, larger maxDuration", policies: [lib.zeroApprovals, lib.webOncall], input: { user: olivia, durationMs: 10 * M }, want: { policy: "web-oncall", approvals: 0, auto: true } },
  { name: "only the longer policy allows the duration", policies: [lib.webOps, lib.threeApprovals], input: { durationMs: 10 * H }, want: { policy: "three", approvals: 3, auto: false } },
];

describe("evaluateRequest", () => {
  it.each(rows)("$name", ({ policies, input, want }) => {
    const run = () => evaluateRequest(policies, { ...base, ...input });
    if ("code" in want) {
      let caught: unknown;
      try {
        run();
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ControlError);
      const err = caught as ControlError;
      expect({ code: err.code, kind: err.kind }).toEqual({ code: want.code, kind: want.kind });
      if (want.message) expect(err.message).toMatch(want.message);
    } else {
      const got = run();
      expect({ policy: got.policy.name, approvals: got.approvalsRequired, auto: got.autoApproved }).toEqual(want);
    }
  });

  it("does not depend on the order of the policies", () => {
    const set = [lib.webOps, lib.long2, lib.long2twin, lib.threeApprovals];
    const names = [set, [...set].reverse()].map((ps) => evaluateRequest(ps, base).policy.name);
    expect(names).toEqual(["a-long", "a-long"]);
  });
});

describe("subjectMatches", () => {
  it.each([
    { s: sel({ roles: ["requester"] }), who: alice, want: true },
    { s: sel({ roles: ["approver"] }), who: alice, want: false },
    { s: sel({ users: ["alice"] }), who: alice, want: true },
    { s: sel({ users: ["id-alice"] }), who: alice, want: false },
    { s: sel({ groups: ["dev"] }), who: alice, want: true },
    { s: sel({ roles: ["admin"], groups: ["dev"] }), who: alice, want: true },
    { s: sel({}), who: adam, want: false },
  ])("$s against $who.name is $want", ({ s, who, want }) => {
    expect(subjectMatches(s, who)).toBe(want);
  });
});

describe("checkApprover", () => {
  const byRole = lib.webOps;
  const byName = policy("dba", { approvals: { count: 1, from: sel({ users: ["carol"], groups: ["dba-leads"] }) } });
  it.each([
    { name: "an approver approves", p: byRole, approver: ann, requester: alice, code: null },
    { name: "an admin approves", p: byRole, approver: adam, requester: alice, code: null },
    { name: "self-approval by an admin approver", p: byRole, approver: adam, requester: adam, code: "SELF_APPROVAL" },
    { name: "self-approval by a named approver", p: byName, approver: carol, requester: carol, code: "SELF_APPROVAL" },
    { name: "a requester is not an approver", p: byRole, approver: alice, requester: olivia, code: "NOT_AN_APPROVER" },
    { name: "a named user approves", p: byName, approver: carol, requester: alice, code: null },
    { name: "an approver outside the named list", p: byName, approver: ann, requester: alice, code: "NOT_AN_APPROVER" },
  ])("$name", ({ p, approver, requester, code }) => {
    if (code === null) {
      expect(() => checkApprover(p, approver, requester)).not.toThrow();
      return;
    }
    try {
      checkApprover(p, approver, requester);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ControlError);
      expect((e as ControlError).code).toBe(code);
      expect((e as ControlError).kind).toBe("forbidden");
    }
  });

  it("explains who may approve", () => {
    expect(() => checkApprover(lib.webOps, alice, olivia)).toThrow(
      'alice may not decide requests under policy "web-ops": only people with role approver or admin may',
    );
    expect(() => checkApprover(lib.webOps, adam, adam)).toThrow("you cannot approve or deny your own request");
  });
});
