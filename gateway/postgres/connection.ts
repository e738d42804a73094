// One client connection, top to bottom: the startup phase (TLS, GSSENC refusal, cancel
// requests, protocol negotiation), authentication against a grant, the upstream login,
// the greeting, then the relay. Any failure before the relay is a FATAL to this client,
// a log line, and nothing else.
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { auditRefusal, beginSession, type OpenSession } from "../session-lifecycle.js";
import type { EngineContext } from "../engine.js";
import { authenticate } from "./auth.js";
import { cancelUpstream, type CancelKeys } from "./cancel.js";
import { upstreamLogin } from "./credentials.js";
import { PgGatewayError, protocolError } from "./errors.js";
import type { GrantTokens } from "./grant-token.js";
import { READ_ONLY_PARAMS } from "./read-only.js";
import { MessageReader } from "./reader.js";
import { Relay, type Conn } from "./relay.js";
import { parseStartup, type StartupRequest } from "./startup.js";
import type { TlsUpgrader } from "./tls-upgrade.js";
import { connectUpstream, type Upstream } from "./upstream.js";
import {
  authOk, authSaslFinal, backendKeyData, CANCEL_REQUEST, errorResponse, GSSENC_REQUEST, negotiateProtocolVersion, readyForQuery, SSL_REQUEST,
} from "./wire.js";

/** PostgreSQL's own limit on a startup packet. */
const MAX_STARTUP = 10_000;

export interface ConnectionDeps {
  ctx: EngineContext;
  tokens: GrantTokens;
  keys: CancelKeys;
  /** Live relays, so the engine can close them at shutdown. */
  live: Set<Relay>;
  tls: TlsUpgrader;
}

export async function handleConnection(deps: ConnectionDeps, raw: Socket): Promise<void> {
  const { ctx } = deps;
  const clientAddress = `${raw.remoteAddress ?? "?"}:${raw.remotePort ?? 0}`;
  raw.setNoDelay(true);
  raw.on("error", () => undefined);
  let client: Conn = raw;
  const reader = new MessageReader(raw, { maxMessage: MAX_STARTUP, timeoutMs: ctx.config.pg.handshakeTimeoutMs, peer: "client" });
  let req: StartupRequest | null = null;
  let upstream: Upstream | null = null;
  let session: OpenSession | null = null;
  try {
    const started = await startupPhase(deps, raw, reader);
    if (!started) return;
    ({ client, req } = started);
    if (req.minor > 0 || req.unsupportedOptions.length > 0) client.write(negotiateProtocolVersion(0, req.unsupportedOptions));
    const io = { reader, write: (b: Buffer) => void client.write(b), tls: client instanceof TLSSocket ? client : null };
    const auth = await authenticate(ctx, deps.tokens, req, io);
    const grant = auth.grant;
    const login = await upstreamLogin(ctx, grant, req.database);
    const params = new Map(req.params);
    if (grant.sessionOptions.readOnly) for (const [k, v] of Object.entries(READ_ONLY_PARAMS)) params.set(k, v);
    if (grant.sessionOptions.statementTimeoutMs) params.set("statement_timeout", String(grant.sessionOptions.statementTimeoutMs));
    const tls = ctx.config.pg.upstreamTls[grant.targetName] ?? ctx.config.pg.upstreamTls["*"] ?? { mode: "prefer", caFile: null };
    try {
      upstream = await connectUpstream({ host: grant.host, port: grant.port, tls, user: login.user, password: login.password, database: login.database, params, timeoutMs: ctx.config.pg.handshakeTimeoutMs });
    } finally {
      login.password.fill(0);
    }
    const up = upstream;
    const upstreamKey = { host: grant.host, port: grant.port, ...up.backendKey };
    const cancel = () => cancelUpstream(upstreamKey, (err) => ctx.logger.warn("postgres cancel failed", { target: grant.targetName, err: err.message }));
    let relay: Relay | null = null;
    let closeReason: string | null = null;
    session = await beginSession(ctx, {
      protocol: "postgres",
      grant,
      clientAddress,
      close: (reason) => {
        if (relay) relay.cut(reason);
        else closeReason = reason;
      },
    });
    const open = session;
    const key = deps.keys.issue(cancel);
    const rest = reader.detach();
    client.write(Buffer.concat([
      ...(auth.serverFinal ? [authSaslFinal(auth.serverFinal)] : []),
      authOk(),
      ...up.greeting,
      backendKeyData(key.pid, key.secret),
      readyForQuery("I"),
    ]));
    const r: Relay = new Relay({
      client,
      upstream: up.socket,
      clientRest: rest,
      upstreamRest: up.rest,
      recording: open.recording,
      readOnly: grant.sessionOptions.readOnly,
      maxMessage: ctx.config.pg.maxMessageBytes,
      cancel,
      onRefused: (reason) => ctx.logger.warn("postgres session input refused", { sessionId: open.id, client: clientAddress, reason }),
      onEnd: (reason) => {
        key.release();
        deps.live.delete(r);
        void open.end(reason);
      },
    });
    relay = r;
    deps.live.add(r);
    r.start();
    if (closeReason !== null) r.cut(closeReason);
  } catch (err) {
    reader.detach();
    upstream?.socket.destroy();
    if (session) void session.end(`failed: ${err instanceof Error ? err.message : String(err)}`);
    refuse(ctx, client, err, req, clientAddress);
  }
}

/** Handles SSLRequest, GSSENCRequest and CancelRequest until the StartupMessage; null when the connection is done. */
async function startupPhase(deps: ConnectionDeps, raw: Socket, reader: MessageReader): Promise<{ client: Conn; req: StartupRequest } | null> {
  let client: Conn = raw;
  for (;;) {
    const body = await reader.untyped();
    if (body.length < 4) throw protocolError("the startup packet is too short");
    const code = body.readInt32BE(0);
    if (code === SSL_REQUEST && body.length === 4) {
      if (client instanceof TLSSocket) throw protocolError("TLS was requested twice");
      if (reader.buffered > 0) throw protocolError("the client sent data after the TLS request, before the TLS handshake");
      raw.write("S");
      client = await startTls(deps, raw, reader);
    } else if (code === GSSENC_REQUEST && body.length === 4) {
      if (client instanceof TLSSocket) throw protocolError("GSSAPI encryption was requested inside TLS");
      // No GSSAPI here: libpq carries on with TLS or plaintext.
      raw.write("N");
    } else if (code === CANCEL_REQUEST && body.length === 12) {
      const found = deps.keys.cancel(body.readInt32BE(4), body.subarray(8, 12));
      if (!found) deps.ctx.logger.warn("postgres cancel request for an unknown key", { client: raw.remoteAddress });
      reader.detach();
      client.end();
      return null;
    } else {
      return { client, req: parseStartup(body) };
    }
  }
}

async function startTls(deps: ConnectionDeps, raw: Socket, reader: MessageReader): Promise<TLSSocket> {
  reader.detach();
  const tls = await deps.tls.upgrade(raw, deps.ctx.config.pg.handshakeTimeoutMs);
  reader.switchTo(tls);
  return tls;
}

function refuse(ctx: EngineContext, client: Conn, err: unknown, req: StartupRequest | null, clientAddress: string): void {
  const e = err instanceof PgGatewayError ? err : null;
  if (!e) ctx.logger.error("postgres connection failed", { client: clientAddress, err: err instanceof Error ? err.stack ?? err.message : String(err) });
  const reason = e?.message ?? "jitgate: internal error; the gateway's log has the details";
  if (e?.code === "PG_CLOSED") {
    ctx.logger.warn("postgres client left during the handshake", { client: clientAddress, reason });
    client.destroy();
    return;
  }
  if (!client.destroyed && client.writable) {
    client.end(errorResponse({ severity: "FATAL", sqlstate: e?.sqlstate ?? "XX000", message: reason }));
    setTimeout(() => client.destroy(), 1_000).unref();
  }
  if (req && e && (e.sqlstate.startsWith("28") || e.code === "PG_NO_GRANT" || e.code === "PG_GRANT_ENDED")) {
    void auditRefusal(ctx, { protocol: "postgres", userName: req.user, targetName: req.target, login: req.login, reason, clientAddress });
  } else {
    ctx.logger.warn("postgres connection refused", { client: clientAddress, user: req?.user ?? null, target: req?.target ?? null, reason });
  }
}
