// What a target says about its own URLs, made to work under the gateway: redirects,
// cookie scopes, and (under a path prefix) absolute links in HTML. Targets that build
// absolute URLs in scripts are better served by host-name routing, which needs none of this.
import { Transform, type TransformCallback } from "node:stream";

export interface Rewriting {
  /** "/t/NAME" under a path prefix, "" by host name. */
  prefix: string;
  /** Origins the target may name itself by (http://host:port), lower-cased. */
  upstreamOrigins: readonly string[];
  /** https://<the host the client used> */
  publicOrigin: string;
  gatewayCookie: string;
}

function upstreamRelative(value: string, r: Rewriting): string | null {
  const lower = value.toLowerCase();
  for (const origin of r.upstreamOrigins) {
    if (lower.startsWith(origin) && (value.length === origin.length || "/?#".includes(value[origin.length] as string))) {
      const rest = value.slice(origin.length);
      return rest.startsWith("/") ? rest : `/${rest}`;
    }
  }
  return null;
}

/** A Location (or Content-Location) header as the client must see it. */
export function rewriteLocation(value: string, r: Rewriting): string {
  const own = upstreamRelative(value, r);
  if (own !== null) return r.prefix ? r.prefix + own : r.publicOrigin + own;
  if (r.prefix && value.startsWith("/") && !value.startsWith("//")) return r.prefix + value;
  return value;
}

/**
 * One Set-Cookie header from the target: dropped (null) when it would overwrite the
 * gateway's own cookie; its Domain removed (the target's domain means nothing to the
 * browser); its Path moved under the prefix.
 */
export function rewriteSetCookie(value: string, r: Rewriting): string | null {
  const parts = value.split(";");
  const first = parts[0] ?? "";
  const name = first.slice(0, Math.max(0, first.indexOf("="))).trim();
  if (name === r.gatewayCookie || name.toLowerCase().startsWith("__host-jitgate")) return null;
  const attrs: string[] = [];
  let hasPath = false;
  for (const raw of parts.slice(1)) {
    const attr = raw.trim();
    const key = attr.split("=")[0]?.trim().toLowerCase();
    if (key === "domain") continue;
    if (key === "path") {
      hasPath = true;
      const path = attr.slice(attr.indexOf("=") + 1).trim();
      attrs.push(`Path=${r.prefix}${path.startsWith("/") ? path : "/"}`);
      continue;
    }
    attrs.push(attr);
  }
  if (!hasPath && r.prefix) attrs.push(`Path=${r.prefix}/`);
  return [first, ...attrs].join("; ");
}

// Attributes that hold a URL the browser fetches or navigates to.
const URL_ATTRIBUTE = /(\s(?:href|src|action|formaction|poster|data|background|cite)\s*=\s*)(["']?)([^"'\s>]*)/gi;
const MAX_CARRY = 64 * 1024;

/** Rewrites one complete piece of HTML (no tag cut in the middle). */
export function rewriteHtml(html: string, r: Rewriting): string {
  return html.replace(/<[a-z][^>]*>/gi, (tag) =>
    tag.replace(URL_ATTRIBUTE, (all, lead: string, quote: string, url: string) => {
      const next = rewriteLocation(url, r);
      return next === url ? all : `${lead}${quote}${next}`;
    }),
  );
}

/**
 * Streams HTML through rewriteHtml, holding back the text after the last '>' so a tag cut
 * between two chunks is rewritten whole. A run of more than 64 KiB without '>' goes out as is.
 */
export class HtmlRewriter extends Transform {
  private carry = "";
  private readonly decoder = new TextDecoder("utf-8");

  constructor(private readonly r: Rewriting) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const text = this.carry + this.decoder.decode(chunk, { stream: true });
    const cut = text.lastIndexOf(">") + 1;
    const ready = text.slice(0, cut);
    this.carry = text.slice(cut);
    let out = ready ? rewriteHtml(ready, this.r) : "";
    if (this.carry.length > MAX_CARRY) {
      out += this.carry;
      this.carry = "";
    }
    done(null, out.length > 0 ? Buffer.from(out) : undefined);
  }

  override _flush(done: TransformCallback): void {
    const rest = this.carry + this.decoder.decode();
    done(null, rest.length > 0 ? Buffer.from(rewriteHtml(rest, this.r)) : undefined);
  }
}
