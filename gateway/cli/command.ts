// The shape of a CLI command and the context it runs in.
import type { ParseArgsConfig } from "node:util";
import { callApi, type ApiTarget } from "./client.js";
import { loadProfile } from "./profile.js";

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
  /** Calls the API as the logged-in user. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** Prints data as JSON with --json, else the human rendering. */
  show(data: unknown, human: () => string): void;
}

export interface Command {
  /** One or two words: "grants", "users add". */
  name: string;
  usage: string;
  summary: string;
  options?: NonNullable<ParseArgsConfig["options"]>;
  args: [min: number, max: number];
  run(ctx: CommandContext): Promise<number | void>;
}

export function apiFromProfile(env: NodeJS.ProcessEnv): ApiTarget {
  const p = loadProfile(env);
  return { server: p.server, ca: p.ca, token: p.token };
}

export const apiCaller = (env: NodeJS.ProcessEnv) =>
  <T>(method: string, path: string, body?: unknown): Promise<T> => callApi<T>(apiFromProfile(env), method, path, body);

export const enc = encodeURIComponent;
