// The policies library: users, inventory, policies, requests, grants, the expiry clock
// and the audit log. Everything outside this folder imports from here only.
export * from "./ports.js";
export * from "./schema.js";
export * from "./errors.js";
export type { BusEvent, BusEventType, GrantEndReason, GrantEndedEvent, GrantChangedEvent, UserChangedEvent } from "./bus-events.js";
export type { Actor } from "./context.js";
export { createControlPlane, ensureAdmin, type ControlPlane, type ControlPlaneOptions } from "./control-plane.js";
export type { User, NewUser, UserChanges } from "./users.js";
export type { Target, Account, TargetKind, AccountAuth } from "./inventory.js";
export { TARGET_KINDS, ACCOUNT_AUTHS } from "./inventory.js";
export type { Grant, GrantState, LiveGrant } from "./grants.js";
export type { AccessRequest } from "./request-view.js";
export type { RequestState } from "./request-state.js";
export type { StoredPolicy, ApplyResult } from "./policy-store.js";
export type { PolicySpec, SessionOptions, Role } from "./policy-model.js";
export { ROLES } from "./policy-model.js";
export { parsePolicyFile } from "./policy-file.js";
export { parseYaml } from "./yaml-doc.js";
export { parseDuration, formatDuration } from "./duration.js";
export type { AuditRecord } from "./audit-log.js";
export { AUDIT_EVENT_TYPES, type AuditEventType } from "./audit-events.js";
export { ExpiryClock } from "./expiry-clock.js";
