// The client's StartupMessage: who connects, to which target and database, with which
// session parameters. Garbage is refused with a message that says what was wrong.
import { PgGatewayError } from "./errors.js";
import { readCString } from "./wire.js";

export interface StartupRequest {
  /** Minor protocol version asked for (3.x). */
  minor: number;
  user: string;
  target: string;
  /** An account login named as LOGIN@TARGET/DB, else null (the token or the only grant decides). */
  login: string | null;
  /** null: the account's own default. */
  database: string | null;
  /** Session parameters passed on upstream (application_name, client_encoding, ...). */
  params: Map<string, string>;
  /** `_pq_.` protocol options this server does not know. */
  unsupportedOptions: string[];
}

const invalid = (message: string) => new PgGatewayError("PG_STARTUP_INVALID", "08P01", message);
const MAX_PARAMS = 64;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/;
const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const LOGIN = /^[A-Za-z0-9_.@+-]{1,63}$/;
/** Parameters the grant decides, never the client. */
const RESERVED = new Set(["default_transaction_read_only", "transaction_read_only", "statement_timeout", "session_authorization", "role", "replication"]);
export const HOW = "connect with user=<your jitgate user> dbname=<target>/<database>";

/** Parses the body of a StartupMessage (after the length; starts with the version). */
export function parseStartup(body: Buffer): StartupRequest {
  const version = body.readInt32BE(0);
  const major = version >>> 16;
  const minor = version & 0xffff;
  if (major !== 3) {
    throw new PgGatewayError("PG_UNSUPPORTED", "0A000", `unsupported frontend protocol ${major}.${minor}: this gateway speaks protocol 3.0 to 3.${minor > 0 ? "x" : "0"}`);
  }
  if (body[body.length - 1] !== 0) throw invalid("the startup packet does not end with a NUL byte");
  const params = new Map<string, string>();
  const unsupportedOptions: string[] = [];
  let i = 4;
  while (i < body.length - 1) {
    const key = readCString(body, i);
    const value = key ? readCString(body, key.next) : null;
    if (!key || !value) throw invalid("the startup packet is truncated: a parameter has no value");
    i = value.next;
    if (key.value.startsWith("_pq_.")) {
      unsupportedOptions.push(key.value);
      continue;
    }
    if (!PARAM_NAME.test(key.value)) throw invalid(`startup parameter name ${JSON.stringify(key.value.slice(0, 64))} is not valid`);
    if (value.value.length > 4096 || /[\0-\x08\x0e-\x1f]/.test(value.value)) throw invalid(`startup parameter ${key.value} has an invalid value`);
    if (params.has(key.value)) throw invalid(`startup parameter ${key.value} is given twice`);
    if (params.size >= MAX_PARAMS) throw invalid(`more than ${MAX_PARAMS} startup parameters`);
    params.set(key.value, value.value);
  }
  const user = params.get("user");
  if (!user) throw new PgGatewayError("PG_STARTUP_INVALID", "28000", `no user name in the startup packet: ${HOW}`);
  if (params.has("replication")) throw new PgGatewayError("PG_UNSUPPORTED", "0A000", "replication connections are not supported through the gateway");
  const named = params.get("database");
  if (!named) throw new PgGatewayError("PG_STARTUP_INVALID", "3D000", `no database in the startup packet: ${HOW}`);
  const { target, login, database } = parseDatabase(named);
  for (const k of ["user", "database"]) params.delete(k);
  for (const k of params.keys()) {
    if (RESERVED.has(k.toLowerCase())) throw new PgGatewayError("PG_STARTUP_INVALID", "42501", `startup parameter ${k} is set by the grant, not the client`);
  }
  const options = params.get("options");
  if (options !== undefined && /read_only|read\s*write|statement_timeout|session_authorization|\brole\b/i.test(options)) {
    throw new PgGatewayError("PG_STARTUP_INVALID", "42501", "the options parameter may not set read-only mode, the statement timeout or the role: the grant sets them");
  }
  return { minor, user, target, login, database, params, unsupportedOptions };
}

/** `TARGET`, `TARGET/DB` or `LOGIN@TARGET/DB`. */
export function parseDatabase(text: string): { target: string; login: string | null; database: string | null } {
  const slash = text.indexOf("/");
  const head = slash < 0 ? text : text.slice(0, slash);
  const database = slash < 0 ? null : text.slice(slash + 1);
  const at = head.lastIndexOf("@");
  const login = at < 0 ? null : head.slice(0, at);
  const target = at < 0 ? head : head.slice(at + 1);
  if (!NAME.test(target)) throw new PgGatewayError("PG_STARTUP_INVALID", "3D000", `${JSON.stringify(text.slice(0, 80))} does not name a target: ${HOW}`);
  if (login !== null && !LOGIN.test(login)) throw new PgGatewayError("PG_STARTUP_INVALID", "3D000", `${JSON.stringify(login.slice(0, 80))} is not a valid login in ${JSON.stringify(text.slice(0, 80))}`);
  if (database !== null && (database.length === 0 || database.length > 63 || /[\0-\x1f]/.test(database))) {
    throw new PgGatewayError("PG_STARTUP_INVALID", "3D000", `${JSON.stringify(database.slice(0, 80))} is not a valid database name`);
  }
  return { target, login, database };
}
