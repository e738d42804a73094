import { formatDuration } from "./duration.js";
import { forbidden, invalid } from "./errors.js";
import { globAny } from "./glob.js";
import type { AutoApproveRule, PolicySpec, SubjectSelector, TimeWindow, Weekday } from "./policy-model.js";

export interface Subject {
  id: string;
  name: string;
  roles: string[];
  groups: string[];
}

export interface TargetRef {
  name: string;
  labels: Record<string, string>;
}

export interface RequestInput {
  user: Subject;
  target: TargetRef;
  login: string;
  durationMs: number;
  reason: string;
  at: Date;
}

export interface Decision {
  policy: PolicySpec;
  approvalsRequired: number;
  autoApproved: boolean;
}

/** Users are named by name, as policy files are written by people, not by id. */
export function subjectMatches(sel: SubjectSelector, s: Subject): boolean {
  return (
    sel.roles.some((r) => s.roles.includes(r)) ||
    sel.users.includes(s.name) ||
    sel.groups.some((g) => s.groups.includes(g))
  );
}

export function targetMatches(policy: PolicySpec, target: TargetRef): boolean {
  if (policy.targets !== null && !globAny(policy.targets, target.name)) return false;
  if (policy.labels !== null) {
    for (const [key, value] of Object.entries(policy.labels)) {
      if (!Object.hasOwn(target.labels, key) || target.labels[key] !== value) return false;
    }
  }
  return true;
}

/** The policies that could cover this ask at all, before duration and reason are weighed. */
export function candidatePolicies(policies: readonly PolicySpec[], user: Subject, target: TargetRef, login: string): PolicySpec[] {
  return policies.filter((p) => subjectMatches(p.subjects, user) && targetMatches(p, target) && globAny(p.logins, login));
}

/**
 * Picks the policy a request falls under. Several may fit; the requester gets the easiest
 * path (auto-approval, then fewest approvals), and ties go to the longest maximum and then
 * the name, so the choice never depends on the order policies were stored in.
 */
export function evaluateRequest(policies: readonly PolicySpec[], input: RequestInput): Decision {
  const { user, target, login, durationMs, reason, at } = input;
  const where = `${login}@${target.name}`;
  if (!Number.isSafeInteger(durationMs) || durationMs <= 0) {
    throw invalid("INVALID_DURATION", "the duration must be a positive number of milliseconds");
  }

  const candidates = candidatePolicies(policies, user, target, login);
  if (candidates.length === 0) {
    throw forbidden("NO_POLICY", `no policy lets ${user.name} request ${where}; ask an admin to add or extend one`);
  }

  const longEnough = candidates.filter((p) => p.maxDurationMs >= durationMs);
  if (longEnough.length === 0) {
    const longest = Math.max(...candidates.map((p) => p.maxDurationMs));
    throw invalid(
      "DURATION_EXCEEDS_POLICY",
      `${formatDuration(durationMs)} is longer than policy allows for ${where}: ask for ${formatDuration(longest)} or less`,
      { maxDurationMs: longest },
    );
  }

  const hasReason = reason.trim().length > 0;
  const allowed = longEnough.filter((p) => hasReason || !p.requireReason);
  if (allowed.length === 0) {
    throw invalid("REASON_REQUIRED", `a reason is required to request ${where}: say what you need the access for`);
  }

  const ranked = allowed.map((policy): Decision => {
    const auto = policy.approvals.count === 0 || policy.autoApprove.some((r) => ruleMatches(r, user, at));
    return { policy, approvalsRequired: auto ? 0 : policy.approvals.count, autoApproved: auto };
  });
  ranked.sort(
    (a, b) =>
      Number(b.autoApproved) - Number(a.autoApproved) ||
      a.approvalsRequired - b.approvalsRequired ||
      b.policy.maxDurationMs - a.policy.maxDurationMs ||
      (a.policy.name < b.policy.name ? -1 : a.policy.name > b.policy.name ? 1 : 0),
  );
  // ranked is non-empty: allowed was checked above.
  return ranked[0] as Decision;
}

/** Throws unless approver may decide requester's request under policy. */
export function checkApprover(policy: PolicySpec, approver: Subject, requester: Subject): void {
  // Checked first and regardless of roles: an admin approving their own request is still self-approval.
  if (approver.id === requester.id) {
    throw forbidden("SELF_APPROVAL", "you cannot approve or deny your own request");
  }
  if (!subjectMatches(policy.approvals.from, approver)) {
    throw forbidden(
      "NOT_AN_APPROVER",
      `${approver.name} may not decide requests under policy "${policy.name}": only ${describeSelector(policy.approvals.from)} may`,
    );
  }
}

export function describeSelector(sel: SubjectSelector): string {
  const parts: string[] = [];
  if (sel.roles.length > 0) parts.push(`role ${sel.roles.join(" or ")}`);
  if (sel.users.length > 0) parts.push(`user ${sel.users.join(" or ")}`);
  if (sel.groups.length > 0) parts.push(`group ${sel.groups.join(" or ")}`);
  return parts.length > 0 ? `people with ${parts.join(", or ")}` : "nobody";
}

export function ruleMatches(rule: AutoApproveRule, user: Subject, at: Date): boolean {
  if (rule.subjects !== null && !subjectMatches(rule.subjects, user)) return false;
  if (rule.window !== null && !inWindow(rule.window, at)) return false;
  return true;
}

const WEEKDAY_INDEX: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const WEEK: readonly Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
// Building a formatter loads time zone data; one per zone is enough for the process.
const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(at: Date, timeZone: string): { day: number; minute: number } {
  let fmt = formatters.get(timeZone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    formatters.set(timeZone, fmt);
  }
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const part of fmt.formatToParts(at)) {
    if (part.type === "weekday") day = WEEKDAY_INDEX[part.value] ?? 0;
    else if (part.type === "hour") hour = Number(part.value) % 24;
    else if (part.type === "minute") minute = Number(part.value);
  }
  return { day, minute: hour * 60 + minute };
}

/** Whether `at` falls in the window; a window across midnight belongs to the day it starts. */
export function inWindow(w: TimeWindow, at: Date): boolean {
  const { day, minute } = localTime(at, w.timezone);
  const dayOk = (d: number) => w.days.includes(WEEK[d] as Weekday);
  if (w.fromMinute < w.toMinute) return dayOk(day) && minute >= w.fromMinute && minute < w.toMinute;
  if (minute >= w.fromMinute) return dayOk(day);
  if (minute < w.toMinute) return dayOk((day + 6) % 7);
  return false;
}
