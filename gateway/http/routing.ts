// Which target a request is for: by host name (TARGET.<domain>) or by path prefix
// (/t/TARGET/...). Everything odd about the request line or the Host header is refused
// here, before anyone is authenticated and long before anything reaches a target.
import { HttpError } from "../api/http-errors.js";

/** Paths under this prefix belong to the gateway on every host and never reach a target. */
export const GATEWAY_PATH = "/.jitgate/";
export const PREFIX_ROOT = "/t/";

export type Route =
  /** The gateway's own pages: sign-in, sign-out, the index of one's grants. */
  | { kind: "gateway"; path: string; query: string }
  /** `/t/NAME` without its slash: relative links only work below `/t/NAME/`. */
  | { kind: "redirect"; location: string }
  | {
      kind: "target";
      target: string;
      mode: "host" | "prefix";
      /** What the client's paths start with in front of the target's own ("" by host name). */
      prefix: string;
      /** The path and query as the target sees them. */
      upstreamPath: string;
      path: string;
      query: string;
    };

const TARGET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const HOST = /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$/;

const bad = (code: string, message: string) => new HttpError(400, code, message);

/** The host name without its port, lower-cased, or a 400 for anything that is not one. */
export function hostName(host: string | undefined): string {
  const h = (host ?? "").toLowerCase();
  if (!HOST.test(h)) throw bad("INVALID_HOST", "the Host header is not a host name: use the gateway's address or TARGET.<gateway domain>");
  return h.startsWith("[") ? h.slice(0, h.indexOf("]") + 1) : h.replace(/:\d+$/, "");
}

/**
 * Refuses paths a target could read as leaving the place the gateway meant: dot segments
 * (plain or percent-encoded, with either slash), NUL bytes, malformed escapes.
 */
export function checkPath(path: string): void {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw bad("MALFORMED_PATH", "the request path has a malformed %-escape");
  }
  if (decoded.includes("\0")) throw bad("MALFORMED_PATH", "the request path contains a NUL byte");
  for (const segment of decoded.split(/[/\\]/)) {
    if (segment === "." || segment === "..") throw bad("PATH_TRAVERSAL", "the request path contains '.' or '..' segments: ask for the resolved path");
  }
}

export function route(hostHeader: string | undefined, url: string | undefined, domain: string | null): Route {
  const raw = url ?? "";
  // Absolute-form (`GET http://elsewhere/`) and `*` are for forward proxies; this is not one.
  if (!raw.startsWith("/")) throw bad("INVALID_REQUEST_TARGET", "the request target must be a path starting with /");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? "" : raw.slice(q + 1);
  checkPath(path);
  const host = hostName(hostHeader);
  if (path.startsWith(GATEWAY_PATH) || path === GATEWAY_PATH.slice(0, -1)) return { kind: "gateway", path, query };
  if (domain !== null && host.endsWith(`.${domain}`)) {
    const target = host.slice(0, -domain.length - 1);
    if (!TARGET_NAME.test(target)) throw bad("INVALID_HOST", `${JSON.stringify(target)} is not a target name`);
    return { kind: "target", target, mode: "host", prefix: "", upstreamPath: raw, path, query };
  }
  if (!path.startsWith(PREFIX_ROOT)) return { kind: "gateway", path, query };
  const slash = path.indexOf("/", PREFIX_ROOT.length);
  const target = path.slice(PREFIX_ROOT.length, slash < 0 ? undefined : slash);
  if (!TARGET_NAME.test(target)) throw bad("INVALID_TARGET", `${JSON.stringify(target.slice(0, 70))} is not a target name: use /t/TARGET/`);
  if (slash < 0) return { kind: "redirect", location: `${path}/${q < 0 ? "" : `?${query}`}` };
  const rest = path.slice(slash);
  return { kind: "target", target, mode: "prefix", prefix: path.slice(0, slash), upstreamPath: rest + (q < 0 ? "" : `?${query}`), path: rest, query };
}
