// Two-phase password rotation for PostgreSQL roles: the new password is stored as pending
// before the target changes, so at every instant the vault holds a password that logs in.
import pg from "pg";
import { VaultError, type VaultErrorKind } from "./errors.js";
import type { VaultClock } from "./ports.js";
import { RotationBook, type Attempt, type RecoveryResult } from "./rotation-book.js";
import type { RotationEntry, RotationLog, RotationSecrets, RotationTrigger } from "./rotation-port.js";
import { generatePassword, scramSha256Verifier } from "./scram.js";

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

type Step = "store" | "credentials" | "connect" | "alter" | "verify" | "promote";


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
  readonly #secrets: RotationSecrets;
  readonly #clock: VaultClock;
  readonly #timeoutMs: number;
  readonly #iterations: number | undefined;
  readonly #book: RotationBook;

  constructor(deps: PostgresRotatorDeps) {
    this.#secrets = deps.secrets;
    this.#clock = deps.clock ?? { now: () => Date.now() };
    this.#book = new RotationBook(deps.secrets, deps.log, this.#clock, explain, redact);
    this.#timeoutMs = deps.timeoutMs ?? 5_000;
    this.#iterations = deps.iterations;
  }

  /** Settles any interrupted rotation of req.name first, then rotates; the new version number on success. */
  async rotate(req: PostgresRotation): Promise<{ version: number }> {
    checkRequest(req);
    if (typeof req.reason !== "string" || req.reason.trim().length === 0) throw invalid("a rotation needs a reason");
    if (req.via && req.via.secretName === req.name) throw invalid("a rotator account's secret must not be the secret being rotated");
    return this.#exclusive(req.name, async () => {
      await this.#recover({ ...req, reason: `before rotation: ${req.reason}` });
      return this.#rotate(req);
    });
  }

  /** Settles a pending version left by an interrupted rotation: whichever password logs in is current. */
  async recover(req: PostgresRecovery): Promise<RecoveryResult> {
    checkRequest(req);
    return this.#exclusive(req.name, () => this.#recover(req));
  }

  async #rotate(req: PostgresRotation): Promise<{ version: number }> {
    const { name, target, login, actor, reason, trigger } = req;
    const startedAt = this.#now();
    const password = generatePassword();
    const hidden = [password];
    let version: number | null = null;
    let step: Step = "store";
    // "unknown" when ALTER ROLE was sent but no answer came back: the target may have it.
    let applied: "no" | "unknown" | "yes" = "no";
    try {
      version = await this.#secrets.putPending(name, "password", Buffer.from(password, "utf8"), actor, reason);
      step = "credentials";
      const as = req.via ?? { login, secretName: name };
      const asPassword = await this.#read(as.secretName);
      const verifier = scramSha256Verifier(password, this.#iterations === undefined ? {} : { iterations: this.#iterations });
      hidden.push(asPassword, verifier);
      step = "connect";
      const client = await this.#connect(target, as.login, asPassword);
      try {
        step = "alter";
        applied = "unknown";
        await client.query(`ALTER ROLE ${pg.escapeIdentifier(login)} PASSWORD ${pg.escapeLiteral(verifier)}`);
        applied = "yes";
      } catch (err) {
        // An error the server sent means the statement's transaction rolled back.
        if (err instanceof pg.DatabaseError) applied = "no";
        throw err;
      } finally {
        await this.#close(client);
      }
      step = "verify";
      const check = await this.#attempt(target, login, password);
      if (!check.ok) throw new StepFailure(check.kind, check.detail);
      step = "promote";
      await this.#secrets.promote(name, version);
    } catch (err) {
      const { kind, detail } = explain(err, hidden);
      let settled: string;
      if (version === null) settled = "nothing was stored";
      else if (applied === "no") settled = await this.#discardQuietly(name, version, hidden);
      else settled = `version ${version} is kept pending because the target may already use it; recovery will settle it`;
      const message = `rotating ${name} (role ${login} on ${describePostgresTarget(target)}): ${step} failed: ${detail}; ${settled}`;
      const history = await this.#recordQuietly({ name, actor, reason, trigger, outcome: "failed", error: message, startedAt, version }, hidden);
      throw new VaultError("ROTATION_FAILED", kind, history ? `${message}; ${history}` : message);
    }
    const history = await this.#recordQuietly({ name, actor, reason, trigger, outcome: "rotated", error: null, startedAt, version }, hidden);
    if (history) throw new VaultError("ROTATION_HISTORY_FAILED", "unavailable", `rotated ${name} to version ${version}, but ${history}`);
    return { version };
  }

  #recover(req: PostgresRecovery): Promise<RecoveryResult> {
    return this.#book.recover(req, `role ${req.login} on ${describePostgresTarget(req.target)}`, (password) => this.#attempt(req.target, req.login, password));
  }

  #exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#book.exclusive(name, fn);
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

  #discardQuietly(name: string, version: number, hidden: string[]): Promise<string> {
    return this.#book.discardQuietly(name, version, hidden);
  }

  /** Records entry; a failure to record is returned as text, so it never hides the rotation's own outcome. */
  #recordQuietly(entry: Omit<RotationEntry, "finishedAt">, hidden: string[]): Promise<string | null> {
    return this.#book.recordQuietly(entry, hidden);
  }

  #now(): Date {
    return this.#book.now();
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

class StepFailure extends Error {
  constructor(readonly kind: VaultErrorKind, readonly detail: string) {
    super(detail);
  }
}

function invalid(message: string): VaultError {
  return new VaultError("ROTATION_INVALID_INPUT", "invalid", message);
}

function checkRequest(req: { name: string; target: PostgresTarget; login: string; actor: string }): void {
  if (typeof req.name !== "string" || req.name.length === 0) throw invalid("a rotation needs the secret's name");
  if (typeof req.login !== "string" || req.login.length === 0 || req.login.length > 63 || req.login.includes("\0")) {
    throw invalid("a PostgreSQL role name is 1 to 63 characters");
  }
  const problem = postgresTargetProblem(req.target);
  if (problem) throw invalid(problem);
  if (typeof req.actor !== "string" || req.actor.trim().length === 0) throw invalid("a rotation needs an actor");
}

// Messages come from the driver, the server and the store; none should carry a secret, but a
// value that slipped in anyway is cut out before it can reach a history row or an error.
export function redact(text: string, hidden: readonly string[]): string {
  let out = text;
  for (const h of hidden) if (h.length > 0) out = out.split(h).join("[redacted]");
  return out;
}

export function explain(err: unknown, hidden: readonly string[]): { kind: VaultErrorKind; detail: string } {
  if (err instanceof StepFailure) return { kind: err.kind, detail: redact(err.detail, hidden) };
  if (err instanceof VaultError) return { kind: err.kind, detail: redact(`${err.code}: ${err.message}`, hidden) };
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" && e.message.length > 0 ? e.message : String(err);
  let kind: VaultErrorKind = "unavailable";
  if (code && (AUTH_CODES.has(code) || PRIVILEGE_CODES.has(code))) kind = "forbidden";
  return { kind, detail: redact(code ? `${code} ${message}` : message, hidden) };
}
