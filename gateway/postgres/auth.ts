// Who is connecting and under which grant: a client certificate from the gateway's CA
// (chain checked by TLS, then by the vault), or a grant token proved by SCRAM-SHA-256
// (cleartext over TLS when configured). The token picks the grant; a token of a grant
// that has ended gets the reason, any other wrong token the server's usual refusal.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { Grant, LiveGrant } from "../../policies/index.js";
import { VaultError, verifyClientCertificate, type ScramKeys } from "../../vault/index.js";
import type { EngineContext } from "../engine.js";
import { PgGatewayError } from "./errors.js";
import { TOKEN_ITERATIONS, type GrantTokens } from "./grant-token.js";
import type { MessageReader } from "./reader.js";
import { ScramServer } from "./scram.js";
import type { StartupRequest } from "./startup.js";
import { authCleartext, authSasl, authSaslContinue, readCString } from "./wire.js";

export interface Authenticated {
  grant: LiveGrant;
  method: "certificate" | "scram" | "password";
  /** SCRAM's server-final-message, sent with AuthenticationOk once the target is ready. */
  serverFinal: string | null;
}

export interface AuthIo {
  reader: MessageReader;
  write(b: Buffer): void;
  tls: TLSSocket | null;
}

/** How many of a person's latest grants on the target a token is checked against. */
const CANDIDATES = 10;

const refused = (user: string) => new PgGatewayError("PG_AUTH_FAILED", "28P01", `password authentication failed for user "${user}"`);

export async function authenticate(ctx: EngineContext, tokens: GrantTokens, req: StartupRequest, io: AuthIo): Promise<Authenticated> {
  const cert = io.tls?.getPeerX509Certificate();
  if (io.tls && cert) {
    const userName = checkCertificate(ctx, io.tls, cert.toString(), req.user);
    const grants = await candidates(ctx, userName, req);
    return { grant: await liveOne(ctx, req, grants), method: "certificate", serverFinal: null };
  }
  const grants = await candidates(ctx, req.user, req);
  if (ctx.config.pg.cleartextOverTls && io.tls) {
    io.write(authCleartext());
    const password = await expect(io.reader, "password");
    const given = Buffer.from(readCString(password, 0)?.value ?? "", "utf8");
    const match = grants.find((g) => {
      const token = Buffer.from(tokens.token(g.id), "utf8");
      return token.length === given.length && timingSafeEqual(token, given);
    });
    if (!match) throw refused(req.user);
    return { grant: await usable(ctx, req, match), method: "password", serverFinal: null };
  }
  io.write(authSasl(["SCRAM-SHA-256"]));
  const initial = await expect(io.reader, "SASL initial response");
  const mechanism = readCString(initial, 0);
  if (!mechanism || mechanism.value !== "SCRAM-SHA-256") {
    throw new PgGatewayError("PG_AUTH_FAILED", "28000", `SASL mechanism ${JSON.stringify(mechanism?.value ?? "")} is not offered: use SCRAM-SHA-256 (without channel binding)`);
  }
  const length = initial.length >= mechanism.next + 4 ? initial.readInt32BE(mechanism.next) : -1;
  if (length < 0 || mechanism.next + 4 + length > initial.length) throw new PgGatewayError("PG_PROTOCOL", "08P01", "malformed SASL initial response");
  const scram = new ScramServer(tokens.salt(req.user), TOKEN_ITERATIONS);
  io.write(authSaslContinue(scram.first(initial.toString("utf8", mechanism.next + 4, mechanism.next + 4 + length))));
  const final = await expect(io.reader, "SASL response");
  const keyed = grants.map((g) => ({ value: g, keys: tokens.scramKeys(g.id, req.user) }));
  // An unknown person is checked against a key nobody holds, the same work as a known one.
  if (keyed.length === 0) keyed.push({ value: null as unknown as Grant, keys: noKeys() });
  const match = scram.final(final.toString("utf8"), keyed);
  if (!match || !match.value) throw refused(req.user);
  return { grant: await usable(ctx, req, match.value), method: "scram", serverFinal: match.serverFinal };
}

function noKeys(): ScramKeys {
  return { iterations: TOKEN_ITERATIONS, salt: randomBytes(16), storedKey: randomBytes(32), serverKey: randomBytes(32) };
}

async function expect(reader: MessageReader, what: string): Promise<Buffer> {
  const m = await reader.typed();
  if (m.type !== "p") throw new PgGatewayError("PG_PROTOCOL", "08P01", `expected a ${what} message, got ${JSON.stringify(m.type)}`);
  return m.body;
}

function checkCertificate(ctx: EngineContext, tls: TLSSocket, pem: string, user: string): string {
  // TLS proved the client holds the certificate's key and that the chain leads to our root.
  if (!tls.authorized) {
    throw new PgGatewayError("PG_AUTH_FAILED", "28000", `client certificate refused: ${String(tls.authorizationError ?? "not issued by this gateway's certificate authority")}`);
  }
  let named: string;
  try {
    named = verifyClientCertificate(ctx.svc.authorities.tls, pem).userName;
  } catch (err) {
    if (err instanceof VaultError) throw new PgGatewayError("PG_AUTH_FAILED", "28000", `client certificate refused: ${err.message}`);
    throw err;
  }
  if (named !== user) throw new PgGatewayError("PG_AUTH_FAILED", "28000", `the client certificate names ${named}, not user "${user}"`);
  return named;
}

/** The person's latest grants on the target (any state), newest first. */
async function candidates(ctx: EngineContext, userName: string, req: StartupRequest): Promise<Grant[]> {
  const actor = { id: "", name: userName, roles: [], groups: [] };
  const all = await ctx.cp.grants.list(actor, { user: userName, limit: 200 });
  return all
    .filter((g) => g.user === userName && g.target === req.target && (req.login === null || g.login === req.login))
    .slice(0, CANDIDATES);
}

/** The matched grant, if it may be used now; else why not. */
async function usable(ctx: EngineContext, req: StartupRequest, g: Grant): Promise<LiveGrant> {
  if (g.targetKind !== "postgres") {
    throw new PgGatewayError("PG_NO_GRANT", "28000", `${g.target} is a ${g.targetKind} target, not a PostgreSQL one`);
  }
  if (g.state === "ended") {
    throw new PgGatewayError("PG_GRANT_ENDED", "28000", `jitgate: grant ${g.id} ${g.endReason ?? "expired"} at ${g.endedAt ?? g.notAfter}: request access again with: jitgate request ${g.target} --login ${g.login} --for 30m --reason "..."`);
  }
  if (g.state === "scheduled") throw new PgGatewayError("PG_NO_GRANT", "28000", `jitgate: grant ${g.id} starts at ${g.notBefore}: connect then`);
  const live = await ctx.cp.grants.findLive(req.user, g.target, g.login);
  if (!live || live.grantId !== g.id) {
    throw new PgGatewayError("PG_NO_GRANT", "28000", `jitgate: grant ${g.id} cannot be used now: the user is disabled or expired, or the grant just ended`);
  }
  return live;
}

/** For certificate logins: the one live grant on the target, or why there is none. */
async function liveOne(ctx: EngineContext, req: StartupRequest, grants: Grant[]): Promise<LiveGrant> {
  const active = grants.filter((g) => g.state === "active");
  const logins = [...new Set(active.map((g) => g.login))];
  if (logins.length > 1) {
    throw new PgGatewayError("PG_NO_GRANT", "28000", `you hold grants for logins ${logins.join(", ")} on ${req.target}: name one as dbname=LOGIN@${req.target}/DATABASE`);
  }
  const pick = active[0] ?? grants[0];
  if (!pick) {
    throw new PgGatewayError("PG_NO_GRANT", "28000", `jitgate: no active grant for ${req.user} on ${req.target}: request one with: jitgate request ${req.target} --login LOGIN --for 30m --reason "..."`);
  }
  return usable(ctx, req, pick);
}
