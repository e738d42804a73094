// The control API over HTTPS. Every route goes through the same steps: match, authenticate,
// check the role, read and validate the body, run, and answer JSON (errors as {code, message}).
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Actor, ControlPlane, Logger } from "../../policies/index.js";
import { parseJsonBody, readBody } from "./body.js";
import { HttpError, toErrorResponse } from "./http-errors.js";
import type { Route, Router } from "./router.js";
import type { GatewayServices } from "../services.js";

export interface ApiServerOptions {
  cp: ControlPlane;
  svc: GatewayServices;
  router: Router;
  logger: Logger;
  bodyLimit: number;
  tls: { key: string; cert: string };
}

const ANONYMOUS: Actor = { id: "", name: "anonymous", roles: [], groups: [] };

export function createApiServer(o: ApiServerOptions): Server {
  const server = createServer({ key: o.tls.key, cert: o.tls.cert, minVersion: "TLSv1.2" }, (req, res) => {
    void handle(o, req, res);
  });
  // A slow client must not hold a socket forever (slowloris).
  server.headersTimeout = 15_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  server.on("tlsClientError", () => {});
  return server;
}

async function handle(o: ApiServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.setHeader("cache-control", "no-store");
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("strict-transport-security", "max-age=31536000");
  try {
    const url = new URL(req.url ?? "/", "https://gateway.invalid");
    let matched;
    try {
      matched = o.router.match(req.method ?? "GET", url.pathname);
    } catch {
      throw new HttpError(400, "MALFORMED_PATH", "the request path is not valid");
    }
    if (matched === null) throw new HttpError(404, "NOT_FOUND", `no route ${url.pathname}; see /api/openapi.json`);
    if (matched === "method") throw new HttpError(405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${url.pathname}`);
    const { route, params } = matched;
    const who = route.access === "public" ? null : await authenticate(o.cp, req, route);
    const raw = await readBody(req, route.bodyLimit ?? o.bodyLimit);
    const body = route.body ? parseJsonBody(req, raw, route.body) : undefined;
    const reply = await route.handler({
      params,
      query: url.searchParams,
      body,
      actor: who?.actor ?? ANONYMOUS,
      tokenId: who?.tokenId ?? null,
      clientAddress: req.socket.remoteAddress ?? null,
      cp: o.cp,
      svc: o.svc,
    });
    send(res, reply.status ?? 200, reply.body);
  } catch (err) {
    const mapped = toErrorResponse(err);
    if (mapped) {
      for (const [k, v] of Object.entries(mapped.headers)) res.setHeader(k, v);
      send(res, mapped.status, mapped.body);
      return;
    }
    const ref = randomUUID().slice(0, 8);
    o.logger.error("api request failed", { ref, method: req.method, path: req.url?.split("?")[0], err: err instanceof Error ? err.stack : String(err) });
    send(res, 500, { code: "INTERNAL", message: `internal error; the gateway log has the details under ref ${ref}` });
  }
}

async function authenticate(cp: ControlPlane, req: IncomingMessage, route: Route): Promise<{ actor: Actor; tokenId: string }> {
  const header = req.headers.authorization ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m?.[1]) throw new HttpError(401, "AUTH_REQUIRED", "log in first: jitgate login --server URL --user NAME");
  const { user, tokenId } = await cp.tokens.resolve(m[1]);
  if (user.mustChangePassword && !route.beforePasswordChange) {
    throw new HttpError(403, "PASSWORD_CHANGE_REQUIRED", "change your one-time password first: jitgate passwd");
  }
  const actor: Actor = { id: user.id, name: user.name, roles: user.roles, groups: user.groups };
  if (Array.isArray(route.access) && !route.access.some((r) => actor.roles.includes(r))) {
    throw new HttpError(403, "ROLE_REQUIRED", `this needs the role ${route.access.join(" or ")}; you have ${actor.roles.join(", ") || "none"}`);
  }
  return { actor, tokenId };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status === 200 ? 204 : status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) }).end(text);
}
