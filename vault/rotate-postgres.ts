// Two-phase password rotation for PostgreSQL roles: the new password is stored as pending
// before the target changes, so at every instant the vault holds a password that logs in.
import pg from "pg";
import type { VaultErrorKind } from "./errors.js";
import type { VaultClock } from "./ports.js";
import { explainKnown, invalidRotation, redact, RotationBook, type Attempt, type RecoveryResult, type RotationTarget } from "./rotation-book.js";
import type { RotationLog, RotationSecrets, RotationTrigger } from "./rotation-port.js";
import { scramSha256Verifier } from "./scram.js";

export interface PostgresTarget {
  host: string;
  port: number;
  database: string;
  ssl?: false | { ca?: string; rejectUnauthorized: boolean };
}

export interface PostgresRotation {
  /** The secret's name in the vault, e.g. "billing-db/app". */
  name: string;
  target: PostgresTarget;
  /** The role whose password changes. */
  login: string;
  /** A rotator account allowed to ALTER ROLE the login; without it the role changes its own password. */
  via?: { login: string; secretName: string };
  actor: string;
  reason: string;
  trigger: Exclude<RotationTrigger, "recovery">;
}

export interface PostgresRecovery {
  name: string;
  target: PostgresTarget;
  login: string;
  actor: string;
  reason?: string;
}

export type { RecoveryResult } from "./rotation-book.js";

export interface PostgresRotatorDeps {
  secrets: RotationSecrets;
  log: RotationLog;
  clock?: VaultClock;
  /** Bounds connecting and every statement, so an unreachable target fails promptly. */
  timeoutMs?: number;
  /** SCRAM iterations of the verifiers this rotator writes. */
  iterations?: number;
}


const AUTH_CODES = new Set(["28P01", "28000"]);
const PRIVILEGE_CODES = new Set(["42501"]);

export function describePostgresTarget(t: PostgresTarget): string {
  return `${t.host}:${t.port}/${t.database}`;
}

/**
 * Rotates PostgreSQL role passwords through the vault.
 *
 * Rotations of one name run one at a time within this process (a per-name promise chain).
 * Nodes of a cluster must additionally hold a cross-node lock (an advisory lock on the shared
 * database) around rotate() and recover(); that lock belongs to the caller, not to this class.
 */
export class PostgresRotator {
  readonly #timeoutMs: number;
  readonly #iterations: number | undefined;
  readonly #book: RotationBook;

  constructor(deps: PostgresRotatorDeps) {
    this.#book = new RotationBook(deps.secrets, deps.log, deps.clock ?? { now: () => Date.now() }, explain);
    this.#timeoutMs = deps.timeoutMs ?? 5_000;
    this.#iterations = deps.iterations;
  }

  /** Settles any interrupted rotation of req.name first, then rotates; the new version number on success. */
  async rotate(req: PostgresRotation): Promise<{ version: number }> {
    checkRequest(req);
    const { target, login } = req;
    const as = req.via ?? { login, secretName: req.name };
    return this.#book.rotate(req, {
      ...this.#target(req),
      change: async (password, run) => {
        run.step("credentials");
        const asPassword = await this.#read(as.secretName);
        const verifier = scramSha256Verifier(password, this.#iterations === undefined ? {} : { iterations: this.#iterations });
        run.hide(asPassword);
        run.hide(verifier);
        run.step("connect");
        const client = await this.#connect(target, as.login, asPassword);
        try {
          run.step("alter");
          run.applied.state = "unknown";
          await client.query(`ALTER ROLE ${pg.escapeIdentifier(login)} PASSWORD ${pg.escapeLiteral(verifier)}`);
          run.applied.state = "yes";
        } catch (err) {
          // An error the server sent means the statement's transaction rolled back.
          if (err instanceof pg.DatabaseError) run.applied.state = "no";
          throw err;
        } finally {
          await this.#close(client);
        }
      },
    });
  }

  /** Settles a pending version left by an interrupted rotation: whichever password logs in is current. */
  async recover(req: PostgresRecovery): Promise<RecoveryResult> {
    checkRequest(req);
    return this.#book.recover(req, this.#target(req));
  }

  #target(req: PostgresRecovery): RotationTarget {
    return { account: `role ${req.login} on ${describePostgresTarget(req.target)}`, attempt: (password) => this.#attempt(req.target, req.login, password) };
  }

  #read(secretName: string): Promise<string> {
    return this.#book.read(secretName);
  }

  #connect(target: PostgresTarget, user: string, password: string): Promise<pg.Client> {
    return connectPostgres(target, user, password, this.#timeoutMs);
  }

  #close(client: pg.Client): Promise<void> {
    return closePostgres(client, this.#timeoutMs);
  }

  async #attempt(target: PostgresTarget, login: string, password: string): Promise<Attempt> {
    try {
      const client = await this.#connect(target, login, password);
      try {
        await client.query("SELECT 1");
      } finally {
        await this.#close(client);
      }
      return { ok: true, refused: false, kind: "unavailable", detail: "" };
    } catch (err) {
      const { kind, detail } = explain(err, [password]);
      const code = (err as { code?: unknown }).code;
      return { ok: false, refused: typeof code === "string" && AUTH_CODES.has(code), kind, detail };
    }
  }

}

/**
 * Connects to target as user, bounding the connection and every statement by timeoutMs.
 * A server that later drops the connection does not end the process.
 */
export async function connectPostgres(target: PostgresTarget, user: string, password: string, timeoutMs: number, applicationName = "jitgate-rotation"): Promise<pg.Client> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user,
    password,
    ssl: target.ssl ?? false,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: applicationName,
  });
  // A server that drops an idle connection emits `error`; unhandled, that would end the process.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    void closePostgres(client, timeoutMs);
    throw err;
  }
  return client;
}

/** Ends client, giving up after timeoutMs; never throws. */
export async function closePostgres(client: pg.Client, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  await Promise.race([client.end().catch(() => undefined), gaveUp]);
  clearTimeout(timer);
}

/** Why target is not a usable PostgreSQL address, or null when it is. */
export function postgresTargetProblem(t: PostgresTarget): string | null {
  if (!t || typeof t.host !== "string" || t.host.length === 0 || typeof t.database !== "string" || t.database.length === 0) {
    return "a PostgreSQL target needs a host and a database";
  }
  if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) return "a PostgreSQL target's port is 1 to 65535";
  return null;
}

function checkRequest(req: { name: string; target: PostgresTarget; login: string; actor: string }): void {
  if (typeof req.name !== "string" || req.name.length === 0) throw invalidRotation("a rotation needs the secret's name");
  if (typeof req.login !== "string" || req.login.length === 0 || req.login.length > 63 || req.login.includes("\0")) {
    throw invalidRotation("a PostgreSQL role name is 1 to 63 characters");
  }
  const problem = postgresTargetProblem(req.target);
  if (problem) throw invalidRotation(problem);
  if (typeof req.actor !== "string" || req.actor.trim().length === 0) throw invalidRotation("a rotation needs an actor");
}

export function explain(err: unknown, hidden: readonly string[]): { kind: VaultErrorKind; detail: string } {
  const known = explainKnown(err, hidden);
  if (known) return known;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" && e.message.length > 0 ? e.message : String(err);
  let kind: VaultErrorKind = "unavailable";
  if (code && (AUTH_CODES.has(code) || PRIVILEGE_CODES.has(code))) kind = "forbidden";
  return { kind, detail: redact(code ? `${code} ${message}` : message, hidden) };
}
