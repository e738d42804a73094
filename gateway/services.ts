// What the API's handlers may use besides the control plane.
import type { SecretStore } from "../vault/index.js";
import type { Authorities } from "./vault/authorities.js";
import type { Rotations } from "./vault/rotation.js";

export interface GatewayServices {
  secrets: SecretStore;
  authorities: Authorities;
  rotations: Rotations;
}
