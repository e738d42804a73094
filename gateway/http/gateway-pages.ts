// The gateway's own paths on the web port: sign-in and sign-out under /.jitgate/ (on
// every host name, so a target's host name can sign in without leaving it), and at the
// root of the gateway's own host, the list of the user's live web grants.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ControlPlane, User } from "../../policies/index.js";
import { HttpError, toErrorResponse } from "../api/http-errors.js";
import type { HttpAccess } from "./access.js";
import { commandBlock, escapeHtml, loginPage, page, sendError, sendHtml, sendJson, wantsHtml } from "./pages.js";
import { GATEWAY_PATH, PREFIX_ROOT } from "./routing.js";

export const GATEWAY_COOKIE = "__Host-jitgate";
export const TOKEN_HEADER = "x-jitgate-token";
const FORM_LIMIT = 8 * 1024;

/** The gateway token a request carries: its cookie, or for scripts the x-jitgate-token header. */
export function tokenOf(req: IncomingMessage): string | null {
  const header = req.headers[TOKEN_HEADER];
  if (typeof header === "string" && header.length > 0) return header;
  const cookie = req.headers.cookie;
  if (!cookie) return null;
  for (const part of cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === GATEWAY_COOKIE) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Only a path on this host: never an open redirect to somewhere else. */
export function safeNext(next: string | null | undefined): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") && !/[\0-\x1f]/.test(next) ? next : "/";
}

export function loginUrl(next: string): string {
  return `${GATEWAY_PATH}login?next=${encodeURIComponent(next)}`;
}

/** A signed-out request for a target: the sign-in page for people, a 401 for scripts. */
export function signInFirst(req: IncomingMessage, res: ServerResponse, message: string): void {
  if (wantsHtml(req) && (req.method === "GET" || req.method === "HEAD")) {
    res.writeHead(303, { location: loginUrl(req.url ?? "/"), "cache-control": "no-store", "content-length": 0 }).end();
    return;
  }
  sendError(req, res, 401, "AUTH_REQUIRED", message);
}

export interface GatewayPagesDeps {
  cp: ControlPlane;
  access: HttpAccess;
  domain: string | null;
  cookieMaxAgeS: number;
}

export async function gatewayPage(d: GatewayPagesDeps, req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
  const params = new URLSearchParams(query);
  const method = req.method ?? "GET";
  if (path === `${GATEWAY_PATH}login` && (method === "GET" || method === "HEAD")) {
    return sendHtml(res, 200, loginPage(safeNext(params.get("next")), null));
  }
  if (path === `${GATEWAY_PATH}login` && method === "POST") return login(d, req, res);
  if (path === `${GATEWAY_PATH}logout` && method === "POST") return logout(d, req, res);
  if (path === "/" && (method === "GET" || method === "HEAD")) return index(d, req, res);
  sendError(req, res, 404, "NOT_FOUND", `nothing at ${path}: web targets are under ${PREFIX_ROOT}TARGET/${d.domain ? ` or at TARGET.${d.domain}` : ""}`);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > FORM_LIMIT) throw new HttpError(413, "BODY_TOO_LARGE", `the sign-in form is larger than ${FORM_LIMIT} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (/^application\/json/i.test(req.headers["content-type"] ?? "")) {
    try {
      const o = JSON.parse(text) as Record<string, unknown>;
      return new URLSearchParams(Object.entries(o).filter((e): e is [string, string] => typeof e[1] === "string"));
    } catch {
      throw new HttpError(400, "MALFORMED_JSON", "the body is not valid JSON");
    }
  }
  return new URLSearchParams(text);
}

async function login(d: GatewayPagesDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let next = "/";
  try {
    const form = await readForm(req);
    next = safeNext(form.get("next"));
    const r = await d.cp.auth.login(form.get("user") ?? "", form.get("password") ?? "", req.socket.remoteAddress ?? null);
    if (r.user.mustChangePassword) {
      await d.cp.tokens.revoke(r.id, r.user);
      throw new HttpError(403, "PASSWORD_CHANGE_REQUIRED", "change your one-time password first: jitgate passwd");
    }
    const maxAge = Math.max(0, Math.min(d.cookieMaxAgeS, Math.floor((r.expiresAt.getTime() - Date.now()) / 1000)));
    const cookie = `${GATEWAY_COOKIE}=${r.token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${maxAge}`;
    if (wantsHtml(req)) {
      res.writeHead(303, { location: next, "set-cookie": cookie, "cache-control": "no-store", "content-length": 0 }).end();
    } else {
      sendJson(res, 200, { user: r.user.name, expiresAt: r.expiresAt.toISOString() }, { "set-cookie": cookie });
    }
  } catch (err) {
    const mapped = toErrorResponse(err);
    if (!mapped) throw err;
    if (wantsHtml(req)) sendHtml(res, mapped.status, loginPage(next, mapped.body.message), mapped.headers);
    else sendJson(res, mapped.status, mapped.body, mapped.headers);
  }
}

async function logout(d: GatewayPagesDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const token = tokenOf(req);
  if (token) {
    const who = await d.cp.tokens.resolve(token).catch(() => null);
    if (who) await d.cp.tokens.revoke(who.tokenId, who.user);
    d.access.forgetToken(token);
  }
  const clear = `${GATEWAY_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;
  if (wantsHtml(req)) res.writeHead(303, { location: `${GATEWAY_PATH}login`, "set-cookie": clear, "content-length": 0 }).end();
  else sendJson(res, 200, { signedOut: true }, { "set-cookie": clear });
}

async function index(d: GatewayPagesDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const token = tokenOf(req);
  const user: User | null = token ? await d.access.user(token).catch(() => null) : null;
  if (!user) return signInFirst(req, res, "sign in first: POST /.jitgate/login with user and password, or send x-jitgate-token");
  const actor = { id: user.id, name: user.name, roles: user.roles, groups: user.groups };
  const grants = (await d.cp.grants.list(actor, { active: true, user: user.name })).filter((g) => g.targetKind === "http" && g.state === "active");
  if (!wantsHtml(req)) return sendJson(res, 200, { user: user.name, grants: grants.map((g) => ({ target: g.target, login: g.login, notAfter: g.notAfter, path: `${PREFIX_ROOT}${g.target}/` })) });
  const items = grants.map((g) => {
    const host = d.domain ? ` · <a href="https://${escapeHtml(g.target)}.${escapeHtml(d.domain)}/">${escapeHtml(g.target)}.${escapeHtml(d.domain)}</a>` : "";
    return `<li><a href="${PREFIX_ROOT}${escapeHtml(g.target)}/">${escapeHtml(g.target)}</a>${host} as ${escapeHtml(g.login)}, until ${escapeHtml(g.notAfter)}</li>`;
  });
  const body = `<p>Signed in as <strong>${escapeHtml(user.name)}</strong>.</p>` +
    (items.length > 0 ? `<ul>${items.join("")}</ul>` : `<p>You hold no live grant on a web target.</p>${commandBlock('jitgate request TARGET --login LOGIN --for 30m --reason "..."')}`) +
    `<form method="post" action="${GATEWAY_PATH}logout"><button type="submit">Sign out</button></form>`;
  sendHtml(res, 200, page("Web targets", body));
}
