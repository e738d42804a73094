// The one interface every protocol engine (ssh, postgres, http) implements, so the core
// never imports a protocol. An engine listens, authenticates a client against a live
// grant, opens the upstream, relays, records, and lets the registry close its sessions.
export interface SessionHandle {
  readonly id: string;
  readonly grantId: string;
  readonly userId: string;
  readonly protocol: string;
  /** Ends the session now, telling the client why in its protocol's own way. */
  close(reason: string): void;
}

export interface Engine {
  readonly name: string;
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /** Stops accepting and ends every session of this engine. */
  close(): Promise<void>;
}
