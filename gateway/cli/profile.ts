// Where the CLI keeps its server, trusted CA and token: JITGATE_HOME (default
// ~/.config/jitgate), readable only by its owner since the token is a credential.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CliError } from "./errors.js";

export interface Profile {
  server: string;
  user: string;
  /** PEM of the CA that signed the gateway's certificate, when it is not in the system store. */
  ca: string | null;
  token: string;
  expiresAt: string;
}

export const jitgateHome = (env: NodeJS.ProcessEnv = process.env) => env.JITGATE_HOME || join(homedir(), ".config", "jitgate");

export function loadProfile(env: NodeJS.ProcessEnv = process.env): Profile {
  const path = join(jitgateHome(env), "profile.json");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new CliError("NOT_LOGGED_IN", "not logged in: run jitgate login --server URL --user NAME");
  }
  try {
    return JSON.parse(text) as Profile;
  } catch {
    throw new CliError("PROFILE_CORRUPT", `${path} is not valid JSON: remove it and run jitgate login again`);
  }
}

export function saveProfile(profile: Profile, env: NodeJS.ProcessEnv = process.env): void {
  const dir = jitgateHome(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, "profile.json");
  writeFileSync(path, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}
