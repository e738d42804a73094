// What the API's handlers may use besides the control plane.
import type { KekDeps, SecretStore } from "../vault/index.js";
import type { Authorities } from "./vault/authorities.js";
import type { Rotations } from "./vault/rotation.js";
import type { SessionRegistry } from "./session-registry.js";
import type { RecordingReader } from "../recorder/index.js";

export interface GatewayServices {
  /** This node's live sessions. */
  sessions: SessionRegistry;
  /** The engines' bound ports on this node by engine name (ssh, postgres, http), filled as they listen. */
  endpoints: Record<string, number>;
  /** Recorded sessions: listing, events, search, verification, live views. */
  recordings: RecordingReader;
  secrets: SecretStore;
  authorities: Authorities;
  rotations: Rotations;
  /** What a vault rekey needs: the vault's store and clock, and a lock so one rekey runs at a time across nodes. */
  rekey: { deps: KekDeps; exclusive: <T>(fn: () => Promise<T>) => Promise<T> };
}
