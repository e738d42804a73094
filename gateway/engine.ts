// The one interface every protocol engine (ssh, postgres, http) implements, so the core
// never imports a protocol. An engine listens, authenticates a client against a live
// grant, opens the upstream, relays, records, and lets the registry close its sessions.
import type { ControlPlane, Logger } from "../policies/index.js";
import type { SessionRecorder } from "../recorder/index.js";
import type { GatewayConfig } from "./config.js";
import type { GatewayServices } from "./services.js";
import type { SessionRegistry } from "./session-registry.js";

export interface SessionHandle {
  readonly id: string;
  readonly grantId: string;
  readonly userId: string;
  readonly userName: string;
  readonly targetName: string;
  readonly login: string;
  readonly protocol: string;
  readonly clientAddress: string;
  readonly startedAt: Date;
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

/** What the composition root hands every engine. */
export interface EngineContext {
  cp: ControlPlane;
  svc: GatewayServices;
  recorder: SessionRecorder;
  sessions: SessionRegistry;
  logger: Logger;
  config: GatewayConfig;
  /** This node's name, stored with each session. */
  node: string;
  /** The gateway's TLS certificate (from the vault's CA) for engines that speak TLS. */
  tls: { key: string; cert: string };
}

export type EngineFactory = (ctx: EngineContext) => Engine;
