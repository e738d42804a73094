// The HTTP engine: web targets behind the gateway. Each request is routed (host name or
// path prefix), its user authenticated by the gateway's cookie, checked against a live
// grant on the target at that instant, and relayed with the account's credential
// injected; websockets the same way. See README "HTTP targets".
import { once } from "node:events";
import { createServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { issueServerCertificate } from "../../vault/index.js";
import { toErrorResponse } from "../api/http-errors.js";
import type { Engine, EngineContext } from "../engine.js";
import { auditRefusal } from "../session-lifecycle.js";
import { HttpAccess, NoGrantError, requestCommand, type Access } from "./access.js";
import { GATEWAY_COOKIE, gatewayPage, signInFirst, tokenOf } from "./gateway-pages.js";
import { commandBlock, sendError } from "./pages.js";
import { relay, UpstreamError, Upstreams } from "./relay.js";
import { route, type Route } from "./routing.js";
import { HttpSessions, type HttpSession } from "./sessions.js";
import { refuseUpgrade, relayWebsocket, websocketServer } from "./websocket.js";

type TargetRoute = Extract<Route, { kind: "target" }>;

/** Why a request for a target was not let through: a status, a code, a message, and for people a hint. */
interface Refusal {
  status: number;
  code: string;
  message: string;
  html?: string;
}

export function createHttpEngine(ctx: EngineContext): Engine {
  const cfg = ctx.config.http;
  const access = new HttpAccess(ctx);
  const sessions = new HttpSessions(ctx);
  const upstreams = new Upstreams();
  const wss = websocketServer();
  const server = createServer({
    ...certificate(ctx),
    minVersion: "TLSv1.2",
    maxHeaderSize: cfg.maxHeaderSize,
    headersTimeout: cfg.headersTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    // How often the two timeouts above are enforced; Node's default (30 s) lets a slow client linger.
    connectionsCheckingInterval: Math.min(1_000, cfg.headersTimeoutMs),
    keepAliveTimeout: 5_000,
  });
  const pagesDeps = { cp: ctx.cp, access, domain: cfg.domain, cookieMaxAgeS: Math.floor(ctx.config.sessionTtlMs / 1000) };

  /** The request's grant and session when all of it is in memory and fresh, else null (then admit()). */
  function admitCached(req: IncomingMessage, r: TargetRoute): { access: Access; session: HttpSession } | null {
    const token = tokenOf(req);
    const user = token ? access.cachedUser(token) : null;
    if (!user || user.mustChangePassword) return null;
    const a = access.cachedAccess(user.name, r.target);
    const session = a ? sessions.begunSession(a.grant.grantId) : null;
    return a && session && session.closed === null ? { access: a, session } : null;
  }

  /** Authenticates the request and finds its grant and session, or says why not. */
  async function admit(req: IncomingMessage, r: TargetRoute): Promise<{ access: Access; session: HttpSession } | Refusal> {
    const token = tokenOf(req);
    if (!token) return { status: 401, code: "AUTH_REQUIRED", message: "sign in to the gateway first" };
    let user;
    try {
      user = await access.user(token);
    } catch (err) {
      return { status: 401, code: "AUTH_REQUIRED", message: `sign in again: ${toErrorResponse(err)?.body.message ?? "the gateway token is not valid"}` };
    }
    if (user.mustChangePassword) return { status: 403, code: "PASSWORD_CHANGE_REQUIRED", message: "change your one-time password first: jitgate passwd" };
    let a: Access;
    try {
      a = await access.require(user.name, r.target);
    } catch (err) {
      if (err instanceof NoGrantError) {
        await auditRefusal(ctx, { protocol: "http", userName: user.name, targetName: r.target, login: null, reason: err.code, clientAddress: addressOf(req) });
        return { status: 403, code: err.code, message: err.message, html: commandBlock(requestCommand(err.target, err.logins)) };
      }
      const mapped = toErrorResponse(err);
      if (!mapped) throw err;
      return { status: mapped.status, code: mapped.body.code, message: mapped.body.message };
    }
    const session = await sessions.get(a.grant, addressOf(req));
    if (session.closed !== null) {
      const ended = access.endedGrant(user.name, r.target);
      return { status: 403, code: "GRANT_ENDED", message: ended ? `your grant ${ended.grantId} on ${r.target} ended (${ended.reason})` : session.closed, html: commandBlock(requestCommand(r.target, [a.grant.login])) };
    }
    return { access: a, session };
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const r = routeOf(req);
    // A malformed request says nothing good about what follows on the connection.
    if ("status" in r) return sendError(req, res, r.status, r.code, r.message, "", { connection: "close" });
    if (r.kind === "redirect") return void res.writeHead(308, { location: r.location, "content-length": 0 }).end();
    if (r.kind === "gateway") return gatewayPage(pagesDeps, req, res, r.path, r.query);
    const admitted = admitCached(req, r) ?? (await admit(req, r));
    if ("status" in admitted) {
      if (admitted.status === 401) return signInFirst(req, res, admitted.message);
      return sendError(req, res, admitted.status, admitted.code, admitted.message, admitted.html);
    }
    admitted.session.attach(req.socket);
    try {
      await relay(req, res, r, admitted.access, upstreams, admitted.session.recording, {
        gatewayCookie: GATEWAY_COOKIE, captureBodies: cfg.captureBodies, redactFields: cfg.redactFields, clientAddress: addressOf(req), publicHost: req.headers.host ?? "",
      });
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      sendError(req, res, 502, err.code, err.message);
    }
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => {});
    const r = routeOf(req);
    if ("status" in r) return refuseUpgrade(socket, r.status, r.code, r.message);
    if (r.kind !== "target" || (req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
      return refuseUpgrade(socket, 400, "UPGRADE_NOT_SUPPORTED", "only websocket upgrades to a target are relayed");
    }
    const admitted = await admit(req, r);
    if ("status" in admitted) return refuseUpgrade(socket, admitted.status, admitted.code, admitted.message);
    relayWebsocket({
      req, socket, head, route: r, access: admitted.access, session: admitted.session, wss,
      clientAddress: addressOf(req), publicHost: req.headers.host ?? "", gatewayCookie: GATEWAY_COOKIE,
    });
  }

  function routeOf(req: IncomingMessage): Route | Refusal {
    try {
      // Two Host headers could name two targets: one for the gateway, another for the target.
      if (req.rawHeaders.filter((_, i) => i % 2 === 0 && /^host$/i.test(req.rawHeaders[i] as string)).length > 1) {
        return { status: 400, code: "INVALID_HOST", message: "the request has more than one Host header" };
      }
      return route(req.headers.host, req.url, cfg.domain);
    } catch (err) {
      const mapped = toErrorResponse(err);
      if (!mapped) throw err;
      return { status: mapped.status, code: mapped.body.code, message: mapped.body.message };
    }
  }

  const failed = (what: string, res: { headersSent: boolean; destroy(): void } | null, send: () => void) => (err: unknown) => {
    ctx.logger.error(`http ${what} failed`, { err: err instanceof Error ? err.stack : String(err) });
    if (res && !res.headersSent) send();
    else res?.destroy();
  };
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    onRequest(req, res).catch(failed("request", res, () => sendError(req, res, 500, "INTERNAL", "internal error; the gateway log has the details")));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch(failed("upgrade", null, () => {}));
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return void socket.destroy();
    const [status, text] = CLIENT_ERRORS[err.code ?? ""] ?? [400, "Bad Request"];
    socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  server.on("tlsClientError", () => {});

  return {
    name: "http",
    async listen() {
      server.listen(ctx.config.httpPort, ctx.config.host);
      await once(server, "listening");
      return (server.address() as AddressInfo).port;
    },
    async close() {
      server.close();
      await sessions.closeAll("gateway shutting down");
      server.closeAllConnections();
      access.stop();
      wss.close();
      await upstreams.close();
    },
  };
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, "Request Header Fields Too Large"],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout"],
  HPE_HEADERS_TIMEOUT: [408, "Request Timeout"],
};

const addressOf = (req: IncomingMessage) => req.socket.remoteAddress ?? "unknown";

/** The gateway's certificate, or with host-name routing one that also names *.<domain>. */
function certificate(ctx: EngineContext): { key: string; cert: string } {
  const domain = ctx.config.http.domain;
  if (!domain) return ctx.tls;
  const names = ["localhost", "127.0.0.1", "::1", domain, `*.${domain}`];
  const host = ctx.config.host;
  if (host && host !== "0.0.0.0" && host !== "::") names.push(host);
  const issued = issueServerCertificate(ctx.svc.authorities.tls, names);
  return { key: issued.keyPem, cert: issued.certPem };
}
