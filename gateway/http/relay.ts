// Relays one request to its target over undici's connection pools and the response back,
// counting and (if asked) capturing both bodies for the recording. undici's dispatch
// handler is the lowest layer it offers: one callback per response chunk, and pause and
// resume for back-pressure, with nothing allocated per request beyond what is relayed.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { Transform, type Writable } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { Pool, type Dispatcher } from "undici";
import type { SessionRecording } from "../../recorder/index.js";
import type { Access } from "./access.js";
import { BodyCapture, capturedBody } from "./capture.js";
import { upstreamHeaders } from "./injection.js";
import { HtmlRewriter, rewriteLocation, rewriteSetCookie, type Rewriting } from "./rewrite.js";
import type { Route } from "./routing.js";

type TargetRoute = Extract<Route, { kind: "target" }>;

/** undici pools, one per account and way of reaching it (address, scheme, TLS options). */
export class Upstreams {
  private readonly pools = new Map<string, Pool>();

  pool(a: Access): { pool: Pool; origin: string } {
    const { grant, options: o } = a;
    const host = grant.host.includes(":") ? `[${grant.host}]` : grant.host;
    const origin = `${o.scheme}://${host}:${grant.port}`;
    const key = JSON.stringify([grant.accountId, origin, o.ca ?? null, o.insecure, o.serverName ?? null]);
    let pool = this.pools.get(key);
    if (!pool) {
      const tls = o.scheme === "https" ? { ca: o.ca, rejectUnauthorized: !o.insecure, ...(o.serverName ? { servername: o.serverName } : {}) } : {};
      pool = new Pool(origin, { connect: { ...tls, timeout: 10_000 }, keepAliveTimeout: 4_000 });
      this.pools.set(key, pool);
    }
    return { pool, origin };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}

const DROP_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate", "proxy-connection"]);

export interface RelayOptions {
  gatewayCookie: string;
  captureBodies: number;
  redactFields: readonly string[];
  clientAddress: string;
  /** The host name the client used, with its port. */
  publicHost: string;
}

/** Raised for a failure before the response began, so the caller can answer with a page. */
export class UpstreamError extends Error {
  readonly code = "UPSTREAM_UNREACHABLE";
}

export function relay(
  req: IncomingMessage,
  res: ServerResponse,
  route: TargetRoute,
  access: Access,
  upstreams: Upstreams,
  recording: SessionRecording | null,
  o: RelayOptions,
): Promise<void> {
  const started = performance.now();
  const { pool, origin } = upstreams.pool(access);
  const { grant } = access;
  const hostHeader = `${grant.host.includes(":") ? `[${grant.host}]` : grant.host}:${grant.port}`;
  const headers = upstreamHeaders(req.rawHeaders, access.injection, {
    host: hostHeader, clientAddress: o.clientAddress, publicHost: o.publicHost, prefix: route.prefix, gatewayCookie: o.gatewayCookie,
  });
  const rewriting: Rewriting = {
    prefix: route.prefix,
    upstreamOrigins: [origin.toLowerCase(), `${access.options.scheme}://${grant.host}`.toLowerCase()],
    publicOrigin: `https://${o.publicHost}`,
    gatewayCookie: o.gatewayCookie,
  };
  const hasBody = req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0";
  let requestBytes = 0;
  const requestCapture = hasBody && o.captureBodies > 0 ? new BodyCapture(o.captureBodies) : null;
  const body = hasBody
    ? req.pipe(new Transform({
        transform(chunk: Buffer, _e, done) {
          requestBytes += chunk.length;
          requestCapture?.add(chunk);
          done(null, chunk);
        },
      }))
    : null;

  return new Promise<void>((resolve, reject) => {
    let status = 0;
    let responseBytes = 0;
    let out: Writable = res;
    let responseCapture: BodyCapture | null = null;
    let responseType: string | undefined;
    let settled = false;
    let ctl: Dispatcher.DispatchController | null = null;
    const record = () => {
      recording?.http({
        method: req.method ?? "GET",
        path: route.path,
        query: route.query,
        status,
        requestBytes,
        responseBytes,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        ...(requestCapture ? { requestBody: capturedBody(requestCapture, req.headers["content-type"], o.redactFields) } : {}),
        ...(responseCapture ? { responseBody: capturedBody(responseCapture, responseType, o.redactFields) } : {}),
      });
    };
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (err && !res.headersSent) status = 502;
      record();
      if (err && !res.headersSent) reject(new UpstreamError(describe(err, origin), { cause: err }));
      else {
        if (err) res.destroy();
        resolve();
      }
    };
    // The client left: stop the upstream request too.
    res.once("close", () => {
      if (!res.writableFinished && ctl && !ctl.aborted) ctl.abort(new Error("client closed the connection"));
    });
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        ctl = controller;
      },
      onResponseStart(_c, statusCode, upstream, statusMessage) {
        if (statusCode < 200) return;
        status = statusCode;
        responseType = upstream["content-type"] as string | undefined;
        const outHeaders = responseHeaders(upstream, rewriting);
        const html = route.prefix !== "" && /^text\/html/i.test(responseType ?? "");
        const encoding = String(upstream["content-encoding"] ?? "identity").toLowerCase();
        if (html && (encoding === "identity" || DECODERS[encoding])) {
          delete outHeaders["content-length"];
          delete outHeaders["content-encoding"];
          const rewriter = new HtmlRewriter(rewriting);
          const decoder = DECODERS[encoding]?.();
          if (decoder) decoder.pipe(rewriter);
          rewriter.pipe(res);
          out = decoder ?? rewriter;
          out.on("error", () => res.destroy());
        }
        if (o.captureBodies > 0) responseCapture = new BodyCapture(o.captureBodies);
        res.writeHead(statusCode, statusMessage || undefined, outHeaders);
      },
      onResponseData(controller, chunk) {
        responseBytes += chunk.length;
        responseCapture?.add(chunk);
        if (!out.write(chunk)) {
          controller.pause();
          out.once("drain", () => controller.resume());
        }
      },
      onResponseEnd() {
        out.end();
        finish(null);
      },
      onResponseError(_c, err) {
        finish(err);
      },
    };
    pool.dispatch({ origin, path: route.upstreamPath, method: req.method as Dispatcher.HttpMethod, headers, body }, handler);
  });
}

const DECODERS: Record<string, (() => Transform) | undefined> = { gzip: createGunzip, "x-gzip": createGunzip, deflate: createInflate, br: createBrotliDecompress };

function responseHeaders(upstream: Record<string, string | string[] | undefined>, r: Rewriting): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || DROP_RESPONSE.has(name)) continue;
    if (name === "location" || name === "content-location") out[name] = rewriteLocation(String(value), r);
    else if (name === "set-cookie") {
      const cookies = (Array.isArray(value) ? value : [value]).map((c) => rewriteSetCookie(c, r)).filter((c): c is string => c !== null);
      if (cookies.length > 0) out[name] = cookies;
    } else out[name] = value;
  }
  return out;
}

function describe(err: Error, origin: string): string {
  const code = (err as { code?: string }).code ?? "";
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code) || /certificate/i.test(err.message)) {
    return `the target's TLS certificate at ${origin} could not be verified (${code || err.message}): an admin can give the account the option ca=<PEM>, or insecure=true`;
  }
  return `the target did not answer at ${origin} (${code || err.message}): try again, or tell an admin`;
}
