// Ephemeral PostgreSQL roles: one login role per grant, valid until the grant's end, member
// of the configured roles, with a random password that reaches the server only as a SCRAM
// verifier. When the grant ends its sessions are terminated and the role is dropped; roles
// left behind by a crash carry a marker comment, so start-up finds and drops them.
import { createHash } from "node:crypto";
import pg from "pg";
import { VaultError, type VaultErrorKind } from "./errors.js";
import type { VaultClock } from "./ports.js";
import { closePostgres, connectPostgres, describePostgresTarget, explain, postgresTargetProblem, type PostgresTarget } from "./rotate-postgres.js";
import { redact } from "./rotation-book.js";
import { generatePassword, scramSha256Verifier } from "./scram.js";

/** Where the roles live, and an account there with CREATEROLE that may grant the member roles. */
export interface EphemeralPlace {
  target: PostgresTarget;
  admin: { login: string; password: Buffer };
}

export interface EphemeralRolesOptions {
  /** Bounds connecting, every statement, and the wait for terminated sessions to go. Default 5 s. */
  timeoutMs?: number;
  clock?: VaultClock;
  /** SCRAM iterations of the verifiers written; PostgreSQL's default when not given. */
  iterations?: number;
}

export interface EphemeralCreate {
  grantId: string;
  userName: string;
  memberOf: string[];
  validUntil: Date;
  /** Concurrent sessions allowed; -1 (the default) is no limit. */
  connectionLimit?: number;
}

export interface EphemeralDrop {
  grantId: string;
  userName: string;
}

export interface EphemeralOrphan {
  role: string;
  grantId: string;
  validUntil: Date | null;
}

export interface DropOrphansResult {
  dropped: EphemeralOrphan[];
  failed: { orphan: EphemeralOrphan; error: VaultError }[];
}

/** Every comment the gateway puts on a role it made starts with this. */
export const EPHEMERAL_MARKER = "jitgate ephemeral";
const MARKER = /^jitgate ephemeral grant=(\S+) until=(\S+)$/;
const GRANT_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ROLE_NAME = /^jg_[a-z0-9_]+_([0-9a-f]{12})$/;
const USER_PART_MAX = 63 - "jg_".length - "_".length - 12;

function invalid(message: string): VaultError {
  return new VaultError("EPHEMERAL_INVALID_INPUT", "invalid", message);
}

function grantHex(grantId: string): string {
  const hex = grantId.toLowerCase().replace(/-/g, "");
  if (/^[0-9a-f]{12,}$/.test(hex)) return hex.slice(0, 12);
  // Not a UUID-like id: a digest still gives 12 hex digits that differ between grants.
  return createHash("sha256").update(grantId, "utf8").digest("hex").slice(0, 12);
}

/** `jg_<user>_<12 hex of the grant>`: lower case, only [a-z0-9_], at most 63 characters. */
export function ephemeralRoleName(grantId: string, userName: string): string {
  if (typeof grantId !== "string" || !GRANT_ID.test(grantId)) throw invalid("a grant id is 1 to 128 characters of letters, digits and . _ : -");
  if (typeof userName !== "string") throw invalid("a user name is a string");
  const user =
    userName
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, "_")
      .replace(/_+/g, "_")
      .replace(/^_|_$/g, "")
      .slice(0, USER_PART_MAX)
      .replace(/_$/, "") || "user";
  return `jg_${user}_${grantHex(grantId)}`;
}

function markerOf(comment: unknown, role: string): { grantId: string } | null {
  const m = typeof comment === "string" ? MARKER.exec(comment) : null;
  const grantId = m?.[1];
  // A marked role counts as ours only when its name is the one derived from the marked grant.
  if (!grantId || !GRANT_ID.test(grantId) || ROLE_NAME.exec(role)?.[1] !== grantHex(grantId)) return null;
  return { grantId };
}

function checkPlace(at: EphemeralPlace): void {
  const problem = postgresTargetProblem(at?.target);
  if (problem) throw invalid(problem);
  if (typeof at.admin?.login !== "string" || at.admin.login.length === 0) throw invalid("the admin account needs a login");
  if (!Buffer.isBuffer(at.admin.password)) throw invalid("the admin account's password is a Buffer");
}

function checkRoleName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0 || name.length > 63 || name.includes("\0")) {
    throw invalid("a PostgreSQL role name is 1 to 63 characters");
  }
  return name;
}

type Step = "connect" | "check" | "create" | "reset" | "comment" | "commit" | "self-grant" | "disable" | "terminate" | "drop-owned" | "drop" | "list";
interface Progress {
  step: Step;
  /** What a failure from here on leaves behind, when that is not obvious. */
  note?: string;
}

const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (text: string) => pg.escapeLiteral(text);

/**
 * Creates and drops one PostgreSQL role per grant.
 *
 * VALID UNTIL only stops new logins with the password; sessions already open are ended by the
 * gateway at the grant's end and by drop(). Needs PostgreSQL 14 or later. The admin account
 * needs CREATEROLE and the right to grant the member roles; to terminate a role's sessions and
 * drop what it owns it grants itself the ephemeral role first when it lacks its privileges.
 */
export class EphemeralRoles {
  readonly #timeoutMs: number;
  readonly #clock: VaultClock;
  readonly #iterations: number | undefined;

  constructor(opts: EphemeralRolesOptions = {}) {
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#clock = opts.clock ?? { now: () => Date.now() };
    this.#iterations = opts.iterations;
  }

  /** Creates the grant's role, or, when it already exists for this grant, gives it a new password and validity. */
  async create(at: EphemeralPlace, req: EphemeralCreate): Promise<{ role: string; password: Buffer }> {
    checkPlace(at);
    const role = ephemeralRoleName(req?.grantId, req?.userName);
    if (!Array.isArray(req.memberOf)) throw invalid("memberOf is a list of role names");
    const members = [...new Set(req.memberOf.map(checkRoleName))];
    const until = req.validUntil;
    if (!(until instanceof Date) || Number.isNaN(until.getTime())) throw invalid("validUntil is a valid Date");
    if (until.getTime() <= this.#clock.now()) throw invalid(`validUntil ${until.toISOString()} is not in the future`);
    const limit = req.connectionLimit ?? -1;
    if (!Number.isInteger(limit) || limit < -1 || limit > 100_000) throw invalid("connectionLimit is -1 (no limit) or 0 to 100000");

    const password = generatePassword();
    const verifier = scramSha256Verifier(password, this.#iterations === undefined ? {} : { iterations: this.#iterations });
    const iso = until.toISOString();
    const attributes = `LOGIN PASSWORD ${literal(verifier)} VALID UNTIL ${literal(iso)} CONNECTION LIMIT ${limit}`;
    const what = `creating ephemeral role ${role} for grant ${req.grantId}`;
    await this.#session(at, what, [password, verifier], async (client, progress) => {
      progress.step = "check";
      await inTransaction(client, async () => {
        await lockRole(client, role);
        const { rows: found } = await client.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])", [members]);
        const known = new Set(found.map((r) => r.rolname));
        const missing = members.filter((m) => !known.has(m));
        if (missing.length > 0) {
          throw new VaultError(
            "EPHEMERAL_MEMBER_UNKNOWN",
            "invalid",
            `${what} on ${describePostgresTarget(at.target)}: member role(s) ${missing.map((m) => JSON.stringify(m)).join(", ")} do not exist; nothing was created`,
          );
        }
        const existing = await findRole(client, role);
        if (existing) {
          const marker = markerOf(existing.comment, role);
          if (marker?.grantId !== req.grantId) throw conflict(what, at.target, marker ? `it belongs to grant ${marker.grantId}` : "it was not made by jitgate");
          progress.step = "reset";
          await client.query(`ALTER ROLE ${ident(role)} ${attributes}`);
          if (members.length > 0) await client.query(`GRANT ${members.map(ident).join(", ")} TO ${ident(role)}`);
        } else {
          progress.step = "create";
          const inRole = members.length > 0 ? ` IN ROLE ${members.map(ident).join(", ")}` : "";
          await client.query(`CREATE ROLE ${ident(role)} ${attributes}${inRole}`);
        }
        progress.step = "comment";
        await client.query(`COMMENT ON ROLE ${ident(role)} IS ${literal(`${EPHEMERAL_MARKER} grant=${req.grantId} until=${iso}`)}`);
        progress.step = "commit";
      });
    });
    return { role, password: Buffer.from(password, "utf8") };
  }

  /** Ends the role's sessions, drops what it owns in the target database, and drops it; nothing to do when it is gone. */
  async drop(at: EphemeralPlace, req: EphemeralDrop): Promise<{ dropped: boolean; terminated: number }> {
    checkPlace(at);
    const role = ephemeralRoleName(req?.grantId, req?.userName);
    const what = `dropping ephemeral role ${role} of grant ${req.grantId}`;
    return this.#session(at, what, [], (client, progress) => this.#drop(client, at, role, req.grantId, what, progress));
  }

  /** Roles carrying the jitgate marker whose grant is not among openGrantIds. */
  async orphans(at: EphemeralPlace, openGrantIds: ReadonlySet<string>): Promise<EphemeralOrphan[]> {
    checkPlace(at);
    return this.#session(at, "listing ephemeral roles", [], (client, progress) => listOrphans(client, openGrantIds, progress));
  }

  /** Drops every orphan; one that cannot be dropped is reported and the others still go. */
  async dropOrphans(at: EphemeralPlace, openGrantIds: ReadonlySet<string>): Promise<DropOrphansResult> {
    checkPlace(at);
    return this.#session(at, "dropping orphaned ephemeral roles", [], async (client, progress) => {
      const result: DropOrphansResult = { dropped: [], failed: [] };
      for (const orphan of await listOrphans(client, openGrantIds, progress)) {
        const what = `dropping orphaned ephemeral role ${orphan.role} of grant ${orphan.grantId}`;
        const own: Progress = { step: "check" };
        try {
          await this.#drop(client, at, orphan.role, orphan.grantId, what, own);
          result.dropped.push(orphan);
        } catch (err) {
          result.failed.push({ orphan, error: this.#failure(what, at, own, err, []) });
        }
      }
      return result;
    });
  }

  async #drop(client: pg.Client, at: EphemeralPlace, role: string, grantId: string, what: string, progress: Progress): Promise<{ dropped: boolean; terminated: number }> {
    progress.step = "check";
    const key = lockKey(role);
    await client.query("SELECT pg_advisory_lock(hashtext($1))", [key]);
    try {
      return await this.#dropLocked(client, at, role, grantId, what, progress);
    } finally {
      await client.query("SELECT pg_advisory_unlock(hashtext($1))", [key]).catch(() => undefined);
    }
  }

  async #dropLocked(client: pg.Client, at: EphemeralPlace, role: string, grantId: string, what: string, progress: Progress): Promise<{ dropped: boolean; terminated: number }> {
    const existing = await findRole(client, role);
    if (!existing) return { dropped: false, terminated: 0 };
    const marker = markerOf(existing.comment, role);
    if (marker?.grantId !== grantId) throw conflict(what, at.target, marker ? `it belongs to grant ${marker.grantId}` : "it was not made by jitgate");
    progress.step = "self-grant";
    const { rows } = await client.query<{ has: boolean }>("SELECT pg_has_role(current_user, $1::oid, 'USAGE') AS has", [existing.oid]);
    if (rows[0]?.has !== true) await client.query(`GRANT ${ident(role)} TO CURRENT_USER`);
    // No new logins from here on, so the sessions terminated next cannot be replaced.
    progress.step = "disable";
    await client.query(`ALTER ROLE ${ident(role)} NOLOGIN`);
    progress.note = "the role can no longer log in but still exists";
    progress.step = "terminate";
    const terminated = await this.#terminate(client, existing.oid, role);
    await inTransaction(client, async () => {
      progress.step = "drop-owned";
      await client.query(`DROP OWNED BY ${ident(role)}`);
      progress.step = "drop";
      await client.query(`DROP ROLE IF EXISTS ${ident(role)}`);
      progress.step = "commit";
    });
    return { dropped: true, terminated };
  }

  /** Signals every backend of the role, then waits until none is left. */
  async #terminate(client: pg.Client, oid: number, role: string): Promise<number> {
    const sessions = "FROM pg_stat_activity WHERE usesysid = $1::oid AND pid <> pg_backend_pid()";
    const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_terminate_backend(pid) AS ok ${sessions}`, [oid]);
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      const { rows: left } = await client.query<{ n: string }>(`SELECT count(*) AS n ${sessions}`, [oid]);
      const n = Number(left[0]?.n ?? 0);
      if (n === 0) return rows.filter((r) => r.ok).length;
      if (Date.now() >= deadline) throw new Error(`${n} session(s) of ${role} still run ${this.#timeoutMs} ms after being terminated`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async #session<T>(at: EphemeralPlace, what: string, hidden: string[], fn: (client: pg.Client, progress: Progress) => Promise<T>): Promise<T> {
    const adminPassword = at.admin.password.toString("utf8");
    const secrets = [...hidden, adminPassword];
    const progress: Progress = { step: "connect" };
    let client: pg.Client | undefined;
    try {
      client = await connectPostgres(at.target, at.admin.login, adminPassword, this.#timeoutMs, "jitgate-ephemeral");
      return await fn(client, progress);
    } catch (err) {
      // Ending the connection rolls back a transaction left open by the failure.
      throw this.#failure(what, at, progress, err, secrets);
    } finally {
      if (client) await closePostgres(client, this.#timeoutMs);
    }
  }

  #failure(what: string, at: EphemeralPlace, progress: Progress, err: unknown, hidden: string[]): VaultError {
    if (err instanceof VaultError && err.code.startsWith("EPHEMERAL_")) return err;
    const secrets = [...hidden, at.admin.password.toString("utf8")];
    const { kind, detail } = explain(err, secrets);
    // The server's DETAIL says, for instance, which objects in which database still depend on the role.
    const serverDetail = err instanceof pg.DatabaseError && err.detail ? ` (${redact(err.detail, secrets)})` : "";
    const note = progress.note ? `; ${progress.note}` : "";
    const failKind: VaultErrorKind = kind === "forbidden" ? "forbidden" : "unavailable";
    return new VaultError("EPHEMERAL_FAILED", failKind, `${what} on ${describePostgresTarget(at.target)}: ${progress.step} failed: ${detail}${serverDetail}${note}`);
  }
}

function conflict(what: string, target: PostgresTarget, why: string): VaultError {
  return new VaultError("EPHEMERAL_CONFLICT", "conflict", `${what} on ${describePostgresTarget(target)}: a role of that name exists and ${why}; it was left alone`);
}

async function inTransaction(client: pg.Client, fn: () => Promise<void>): Promise<void> {
  await client.query("BEGIN");
  try {
    await fn();
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
  await client.query("COMMIT");
}

// Serialises creates and drops of one role name from several gateway nodes.
const lockKey = (role: string) => `jitgate-ephemeral:${role}`;
async function lockRole(client: pg.Client, role: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [lockKey(role)]);
}

async function findRole(client: pg.Client, role: string): Promise<{ oid: number; comment: string | null } | null> {
  const { rows } = await client.query<{ oid: number; comment: string | null }>(
    "SELECT oid::int8 AS oid, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
    [role],
  );
  const row = rows[0];
  return row ? { oid: Number(row.oid), comment: row.comment } : null;
}

async function listOrphans(client: pg.Client, open: ReadonlySet<string>, progress: Progress): Promise<EphemeralOrphan[]> {
  progress.step = "list";
  const { rows } = await client.query<{ rolname: string; description: string; rolvaliduntil: unknown }>(
    `SELECT r.rolname, d.description, r.rolvaliduntil
       FROM pg_roles r JOIN pg_shdescription d ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass
      WHERE d.description LIKE $1 ORDER BY r.rolname`,
    [`${EPHEMERAL_MARKER} grant=%`],
  );
  const out: EphemeralOrphan[] = [];
  for (const row of rows) {
    const marker = markerOf(row.description, row.rolname);
    if (!marker || open.has(marker.grantId)) continue;
    out.push({ role: row.rolname, grantId: marker.grantId, validUntil: row.rolvaliduntil instanceof Date ? row.rolvaliduntil : null });
  }
  return out;
}
