// How the gateway logs in to a web target as an account, from the account's options, and
// the request headers a target receives: the client's, minus hop-by-hop headers, minus
// the gateway's own cookie and headers, minus whatever the client put where the
// credential goes, plus the credential.
import { z } from "zod";
import { HttpError } from "../api/http-errors.js";

const flag = z.union([z.boolean(), z.enum(["true", "false"]).transform((s) => s === "true")]);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;
const COOKIE_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

// Options of an http account (jitgate accounts add TARGET LOGIN --auth password --option KEY=VALUE).
const optionsSchema = z
  .object({
    inject: z.enum(["basic", "bearer", "header", "cookie"]).default("basic"),
    header: z.string().regex(HEADER_NAME, "must be an HTTP header name").optional(),
    cookie: z.string().regex(COOKIE_NAME, "must be a cookie name").optional(),
    scheme: z.enum(["http", "https"]).default("http"),
    ca: z.string().includes("-----BEGIN CERTIFICATE-----", { message: "must be PEM certificates" }).optional(),
    insecure: flag.default(false),
    serverName: z.string().min(1).max(253).optional(),
  })
  .loose()
  .superRefine((o, ctx) => {
    if (o.inject === "header" && !o.header) ctx.addIssue({ code: "custom", message: "inject=header needs header=NAME (e.g. X-Api-Key)" });
    if (o.inject === "cookie" && !o.cookie) ctx.addIssue({ code: "custom", message: "inject=cookie needs cookie=NAME" });
    if (o.header && RESERVED.has(o.header.toLowerCase())) ctx.addIssue({ code: "custom", message: `header=${o.header} is one the gateway sets itself` });
  });

export type AccountHttpOptions = z.output<typeof optionsSchema>;

export function parseAccountOptions(target: string, login: string, options: Record<string, unknown>): AccountHttpOptions {
  const r = optionsSchema.safeParse(options);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`).join("; ");
  throw new HttpError(502, "ACCOUNT_OPTIONS_INVALID", `the options of account ${login} on ${target} are not valid (${problems}): ask an admin to fix them`);
}

/** Where the credential goes, and its value there. */
export interface Injection {
  /** Lower-cased header name the credential takes (and the client's copy of which is dropped), or null. */
  header: string | null;
  /** Cookie name the credential takes, or null. */
  cookie: string | null;
  value: string;
}

export function injectionFor(o: AccountHttpOptions, login: string, secret: string): Injection {
  switch (o.inject) {
    case "basic":
      return { header: "authorization", cookie: null, value: `Basic ${Buffer.from(`${login}:${secret}`).toString("base64")}` };
    case "bearer":
      return { header: "authorization", cookie: null, value: `Bearer ${secret}` };
    case "header":
      return { header: (o.header as string).toLowerCase(), cookie: null, value: secret };
    case "cookie":
      return { header: null, cookie: o.cookie as string, value: secret };
  }
}

/** Never relayed: hop-by-hop (RFC 9110 7.6.1) or the gateway's to set. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect", "host"]);
const RESERVED = new Set([...HOP_BY_HOP, "cookie", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-prefix", "content-length"]);
/** Headers the gateway reads from clients (API tokens); never forwarded. */
export const GATEWAY_HEADER_PREFIX = "x-jitgate-";

export interface ForwardContext {
  /** host:port of the target, as its Host header. */
  host: string;
  clientAddress: string;
  publicHost: string;
  prefix: string;
  gatewayCookie: string;
}

/** Drops cookies by name from a Cookie header; null when none is left. */
export function dropCookies(header: string, names: readonly string[]): string | null {
  const kept = header.split(";").map((c) => c.trim()).filter((c) => {
    if (c.length === 0) return false;
    const eq = c.indexOf("=");
    const name = (eq < 0 ? c : c.slice(0, eq)).trim();
    return !names.includes(name);
  });
  return kept.length === 0 ? null : kept.join("; ");
}

/** The headers sent upstream, from the client's raw header list. */
export function upstreamHeaders(rawHeaders: readonly string[], inj: Injection, fc: ForwardContext, websocket = false): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  let connectionTokens: string[] = [];
  const cookies: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (name === "connection") connectionTokens = connectionTokens.concat((rawHeaders[i + 1] as string).toLowerCase().split(",").map((t) => t.trim()));
  }
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    if (HOP_BY_HOP.has(name) || name === inj.header || name.startsWith(GATEWAY_HEADER_PREFIX) || name.startsWith("x-forwarded-") || name === "forwarded") continue;
    if (connectionTokens.includes(name)) continue;
    // The websocket client builds its own handshake headers.
    if (websocket && name.startsWith("sec-websocket-")) continue;
    if (name === "cookie") {
      cookies.push(value);
      continue;
    }
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  const drop = inj.cookie ? [fc.gatewayCookie, inj.cookie] : [fc.gatewayCookie];
  const kept = cookies.map((c) => dropCookies(c, drop)).filter((c): c is string => c !== null);
  if (inj.cookie) kept.push(`${inj.cookie}=${inj.value}`);
  if (kept.length > 0) out.cookie = kept.join("; ");
  if (inj.header) out[inj.header] = inj.value;
  out.host = fc.host;
  out["x-forwarded-for"] = fc.clientAddress;
  out["x-forwarded-proto"] = "https";
  out["x-forwarded-host"] = fc.publicHost;
  if (fc.prefix) out["x-forwarded-prefix"] = fc.prefix;
  return out;
}
