// Facts the control plane publishes. Subjects on NATS are `jitgate.<type>`.
export type GrantEndReason = "expired" | "revoked";

export interface GrantEndedEvent {
  type: "grant.ended";
  grantId: string;
  userId: string;
  userName: string;
  targetName: string;
  login: string;
  reason: GrantEndReason;
  notAfter: string;
  at: string;
}

export interface GrantChangedEvent {
  /** A grant was created or its end moved (extension, contractor expiry moved earlier). */
  type: "grant.scheduled";
  grantId: string;
  userId: string;
  userName: string;
  targetName: string;
  login: string;
  notBefore: string;
  notAfter: string;
}

export interface UserChangedEvent {
  /** A user was disabled or their expiry moved: engines re-check their sessions. */
  type: "user.changed";
  userId: string;
  userName: string;
}

export type BusEvent = GrantEndedEvent | GrantChangedEvent | UserChangedEvent;
export type BusEventType = BusEvent["type"];
