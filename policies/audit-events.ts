// The control-plane facts the audit log records. The union is closed so that a reader
// (CLI, console, SIEM export) can switch on `type` exhaustively; a shape that has to change
// gets a new `version` on its rows rather than a silent edit, since old rows stay forever.
// Times inside `data` are ISO strings: jsonb has no date type, so that is what reads back.

/** The `version` written on every row of today's shapes. */
export const AUDIT_EVENT_VERSION = 1;

export type LoginFailureReason = "bad-password" | "unknown-user" | "expired" | "disabled" | "throttled";

export interface AuditEventDataByType {
  "auth.login": { userName: string; clientAddress?: string };
  "auth.login_failed": { userName: string; reason: LoginFailureReason; clientAddress?: string };
  "auth.logout": { userName: string };
  "auth.password_changed": { userName: string; by: string };
  "token.created": { tokenId: string; userName: string; label: string; expiresAt: string };
  "token.revoked": { tokenId: string; userName: string };

  "user.created": { userName: string; roles: string[]; groups: string[]; expiresAt: string | null };
  "user.updated": { userName: string; changes: Record<string, unknown> };

  "target.created": {
    targetName: string;
    kind: "ssh" | "postgres" | "http";
    address: string;
    labels: Record<string, string>;
  };
  "target.updated": { targetName: string; changes: Record<string, unknown> };
  "account.created": { targetName: string; login: string; auth: "password" | "key" | "certificate" | "ephemeral" };
  /** A new version of an account's secret was stored in the vault (never the value). */
  "account.secret_set": { targetName: string; login: string; version: number };

  "policy.applied": { policyName: string; version: number; source: string };
  "policy.deleted": { policyName: string; version: number; source: string };

  "request.created": {
    requestId: string;
    userName: string;
    targetName: string;
    login: string;
    durationMs: number;
    reason: string;
    startsAt: string | null;
    extendsGrantId: string | null;
    policyName: string;
    approvalsRequired: number;
  };
  "request.approved": { requestId: string; approverName: string; approvals: number; approvalsRequired: number };
  "request.denied": { requestId: string; approverName: string; reason: string };
  "request.cancelled": { requestId: string };
  "request.expired": { requestId: string };

  "grant.created": {
    grantId: string;
    requestId: string;
    userName: string;
    targetName: string;
    login: string;
    notBefore: string;
    notAfter: string;
    autoApproved: boolean;
  };
  "grant.extended": { grantId: string; requestId: string; previousNotAfter: string; notAfter: string };
  /** `reason` is null when the revoker gave none. */
  "grant.revoked": { grantId: string; by: string; reason: string | null };
  "grant.ended": {
    grantId: string;
    userName: string;
    targetName: string;
    login: string;
    reason: "expired" | "revoked";
    notAfter: string;
  };

  /** `protocol` is open text: adding a protocol engine must not need a change here. */
  "session.started": { sessionId: string; grantId: string; protocol: string; clientAddress: string };
  "session.ended": { sessionId: string; grantId: string; reason: string };
  /** A connection turned away before a session began: no grant, bad credential, malformed input. */
  "session.refused": { protocol: string; userName: string | null; targetName: string | null; login: string | null; reason: string; clientAddress: string };
  /** Someone looked at a session: watched it live, replayed or exported it, or verified its chain. */
  "session.viewed": { sessionId: string; mode: "live" | "replay" | "events" | "export" | "verify" };
  /** An auditor or admin ended someone's live session. */
  "session.killed": { sessionId: string; userName: string; reason: string | null };
  /** `reason` says what asked for the rotation: on demand, the schedule, a grant's end. */
  /** A certificate was issued to a person: SSH for a grant, or an X.509 client certificate. */
  "certificate.issued": { userName: string; kind: "ssh-user" | "x509-client"; grantId: string | null; keyId: string; serial: string; notAfter: string };
  /** Every data key was re-wrapped under a new key-encryption key. */
  "vault.rekeyed": { kekId: string; kdf: string; rewrapped: number };
  "vault.rotated": { targetName: string; login: string; outcome: "rotated" | "failed"; reason: string };
}

export type AuditEventType = keyof AuditEventDataByType;

export type AuditEvent = {
  [T in AuditEventType]: { type: T; data: AuditEventDataByType[T] };
}[AuditEventType];

export type AuditEventOf<T extends AuditEventType> = Extract<AuditEvent, { type: T }>;

export const AUDIT_EVENT_TYPES = [
  "auth.login",
  "auth.login_failed",
  "auth.logout",
  "auth.password_changed",
  "token.created",
  "token.revoked",
  "user.created",
  "user.updated",
  "target.created",
  "target.updated",
  "account.created",
  "account.secret_set",
  "policy.applied",
  "policy.deleted",
  "request.created",
  "request.approved",
  "request.denied",
  "request.cancelled",
  "request.expired",
  "grant.created",
  "grant.extended",
  "grant.revoked",
  "grant.ended",
  "session.started",
  "session.ended",
  "session.refused",
  "session.viewed",
  "session.killed",
  "certificate.issued",
  "vault.rekeyed",
  "vault.rotated",
] as const satisfies readonly AuditEventType[];

// A type added to the map but not to the list fails to compile here.
type Unlisted = Exclude<AuditEventType, (typeof AUDIT_EVENT_TYPES)[number]>;
const _everyTypeListed: [Unlisted] extends [never] ? true : Unlisted = true;
void _everyTypeListed;

const KNOWN: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);

export function isAuditEventType(value: string): value is AuditEventType {
  return KNOWN.has(value);
}
