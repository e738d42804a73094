// The gateway's own answers to browsers and API clients: a small HTML page for people
// (sign-in, what to request, the grant ended) and {code, message} JSON for everything else.
import type { IncomingMessage, ServerResponse } from "node:http";
import { GATEWAY_PATH } from "./routing.js";

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Browsers ask for HTML first; API clients and scripts get JSON. */
export function wantsHtml(req: IncomingMessage): boolean {
  return /text\/html/i.test(req.headers.accept ?? "");
}

const STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}" +
  "code,pre{background:#f3f3f3;padding:.2rem .4rem;border-radius:3px}pre{padding:.6rem;white-space:pre-wrap}" +
  "input{display:block;margin:.3rem 0 1rem;padding:.4rem;width:100%;box-sizing:border-box}button{padding:.4rem 1rem}";

/** A complete page; `body` is HTML the caller has escaped. */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>${escapeHtml(title)} · jitgate</title><style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

const SECURITY_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "strict-transport-security": "max-age=31536000",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
};

export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { ...SECURITY_HEADERS, "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'", "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(html), ...headers });
  res.end(html);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An error as a page for people or as JSON, the message the same in both. */
export function sendError(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string, extraHtml = "", headers: Record<string, string | string[]> = {}): void {
  if (!wantsHtml(req)) return sendJson(res, status, { code, message }, headers);
  const title = TITLES[code] ?? "Request refused";
  sendHtml(res, status, page(title, `<p>${escapeHtml(message)}</p>${extraHtml}<p><small>code ${escapeHtml(code)}</small></p>`), headers);
}

const TITLES: Record<string, string> = {
  NO_GRANT: "No access to this target right now",
  GRANT_ENDED: "Your grant has ended",
  AUTH_REQUIRED: "Sign in to the gateway",
  TARGET_NOT_FOUND: "No such web target",
  UPSTREAM_UNREACHABLE: "The target did not answer",
};

/** The request command as a block to copy. */
export const commandBlock = (command: string) => `<p>Ask for access from a terminal:</p><pre>${escapeHtml(command)}</pre>`;

export function loginPage(next: string, error: string | null): string {
  return page(
    "Sign in to the gateway",
    (error ? `<p role="alert"><strong>${escapeHtml(error)}</strong></p>` : "") +
      `<form method="post" action="${GATEWAY_PATH}login">` +
      `<input type="hidden" name="next" value="${escapeHtml(next)}">` +
      `<label>User<input name="user" autocomplete="username" required autofocus></label>` +
      `<label>Password<input name="password" type="password" autocomplete="current-password" required></label>` +
      `<button type="submit">Sign in</button></form>`,
  );
}
