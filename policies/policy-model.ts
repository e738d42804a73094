import { z } from "zod";
import { formatDuration, parseDuration } from "./duration.js";

export const ROLES = ["requester", "approver", "admin", "auditor"] as const;
export type Role = (typeof ROLES)[number];

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Matches a person when ANY list matches: a role they hold, their name, or a group. */
export interface SubjectSelector {
  roles: Role[];
  users: string[];
  groups: string[];
}

/**
 * Minutes since local midnight in `timezone`. When fromMinute > toMinute the window runs
 * across midnight and belongs to the day it starts on: fri 22:00-06:00 covers Saturday 03:00.
 */
export interface TimeWindow {
  days: Weekday[];
  fromMinute: number;
  toMinute: number;
  timezone: string;
}

/** Null parts are not checked; at least one part is set. */
export interface AutoApproveRule {
  subjects: SubjectSelector | null;
  window: TimeWindow | null;
}

export interface SessionOptions {
  forwarding: boolean;
  readOnly: boolean;
  statementTimeoutMs: number | null;
  redactParameters: boolean;
}

export interface PolicySpec {
  name: string;
  description: string | null;
  subjects: SubjectSelector;
  targets: string[] | null;
  labels: Record<string, string> | null;
  logins: string[];
  maxDurationMs: number;
  requestTtlMs: number;
  approvals: { count: number; from: SubjectSelector };
  requireReason: boolean;
  autoApprove: AutoApproveRule[];
  session: SessionOptions;
}

export const MAX_GRANT_MS = parseDuration("30d");
export const DEFAULT_REQUEST_TTL_MS = parseDuration("24h");
// Functions, not shared objects, so a caller mutating one policy cannot change another.
export const defaultApprovers = (): SubjectSelector => ({ roles: ["approver", "admin"], users: [], groups: [] });

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

const nonEmpty = z.string().min(1);

const duration = (max?: number) =>
  z.string().transform((text, ctx) => {
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message, input: text });
      return z.NEVER;
    }
    if (max !== undefined && ms > max) {
      ctx.addIssue({ code: "custom", message: `${text} is longer than the limit of ${formatDuration(max)}`, input: text });
      return z.NEVER;
    }
    return ms;
  });

export const subjectSelectorSchema = z
  .strictObject({
    roles: z.array(z.enum(ROLES)).optional(),
    users: z.array(nonEmpty).optional(),
    groups: z.array(nonEmpty).optional(),
  })
  .refine((s) => (s.roles?.length ?? 0) + (s.users?.length ?? 0) + (s.groups?.length ?? 0) > 0, {
    message: "name at least one role, user or group",
  })
  .transform((s): SubjectSelector => ({ roles: s.roles ?? [], users: s.users ?? [], groups: s.groups ?? [] }));

const clock = (allow24: boolean) =>
  z
    .string()
    .regex(/^([01]\d|2[0-4]):[0-5]\d$/, { message: 'use 24-hour "HH:MM", like "09:00" or "18:30"' })
    .transform((text, ctx) => {
      const minutes = Number(text.slice(0, 2)) * 60 + Number(text.slice(3));
      if (minutes > 24 * 60 || (minutes === 24 * 60 && !allow24)) {
        ctx.addIssue({ code: "custom", message: allow24 ? "the latest time is 24:00" : "the latest time is 23:59", input: text });
        return z.NEVER;
      }
      return minutes;
    });

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export const timeWindowSchema = z
  .strictObject({
    days: z.array(z.enum(WEEKDAYS)).min(1).optional(),
    from: clock(false),
    // "24:00" lets a window run to the end of the day without losing its last minute.
    to: clock(true),
    timezone: z
      .string()
      .refine(isTimeZone, { message: "not a known IANA time zone, like Europe/Berlin or UTC" })
      .optional(),
  })
  .superRefine((w, ctx) => {
    if (w.from === w.to) ctx.addIssue({ code: "custom", message: "from and to are the same time: the window would be empty", path: ["to"], input: w.to });
  })
  .transform(
    (w): TimeWindow => ({
      days: w.days ? WEEKDAYS.filter((d) => w.days?.includes(d)) : [...WEEKDAYS],
      fromMinute: w.from,
      toMinute: w.to,
      timezone: w.timezone ?? "UTC",
    }),
  );

export const autoApproveRuleSchema = z
  .strictObject({ subjects: subjectSelectorSchema.optional(), window: timeWindowSchema.optional() })
  .refine((r) => r.subjects !== undefined || r.window !== undefined, {
    // An empty rule would approve everything; approvals.count 0 says that more plainly.
    message: "give subjects, window or both (to need no approval at all, set approvals.count to 0)",
  })
  .transform((r): AutoApproveRule => ({ subjects: r.subjects ?? null, window: r.window ?? null }));

export const sessionOptionsSchema = z
  .strictObject({
    forwarding: z.boolean().optional(),
    readOnly: z.boolean().optional(),
    // No timeout unless a policy sets one: long maintenance queries are legitimate work.
    statementTimeout: duration().nullable().optional(),
    redactParameters: z.boolean().optional(),
  })
  .transform(
    (s): SessionOptions => ({
      forwarding: s.forwarding ?? false,
      readOnly: s.readOnly ?? false,
      statementTimeoutMs: s.statementTimeout ?? null,
      redactParameters: s.redactParameters ?? false,
    }),
  );

export const defaultSession = (): SessionOptions => sessionOptionsSchema.parse({});

const approvalsSchema = z.strictObject({
  count: z.number().int().min(0).max(10),
  from: subjectSelectorSchema.optional(),
});

export const policySchema = z
  .strictObject({
    name: z.string().regex(NAME, {
      message: 'use 1 to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
    }),
    description: z.string().optional(),
    subjects: subjectSelectorSchema,
    targets: z.array(nonEmpty).min(1).optional(),
    labels: z
      .record(z.string(), z.string())
      .refine((l) => Object.keys(l).length > 0, { message: "give at least one label, or leave labels out" })
      .optional(),
    logins: z.array(nonEmpty).min(1),
    maxDuration: duration(MAX_GRANT_MS),
    requestTtl: duration().optional(),
    approvals: approvalsSchema,
    requireReason: z.boolean().optional(),
    autoApprove: z.array(autoApproveRuleSchema).optional(),
    session: sessionOptionsSchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.targets === undefined && p.labels === undefined) {
      ctx.addIssue({ code: "custom", message: "give targets, labels or both, to say which targets this policy covers", path: [], input: p });
    }
  })
  .transform(
    (p): PolicySpec => ({
      name: p.name,
      description: p.description ?? null,
      subjects: p.subjects,
      targets: p.targets ?? null,
      labels: p.labels ?? null,
      logins: p.logins,
      maxDurationMs: p.maxDuration,
      requestTtlMs: p.requestTtl ?? DEFAULT_REQUEST_TTL_MS,
      approvals: { count: p.approvals.count, from: p.approvals.from ?? defaultApprovers() },
      requireReason: p.requireReason ?? true,
      autoApprove: p.autoApprove ?? [],
      session: p.session ?? defaultSession(),
    }),
  );
