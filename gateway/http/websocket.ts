// Websockets under the same checks as any request: the upstream handshake (with the
// injected credential) happens first, and only when the target accepts is the client's
// upgrade completed, with the subprotocol the target chose. Messages are relayed as they
// are (text or binary); at the grant's end the client gets close code 4001 with the reason.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Access } from "./access.js";
import { upstreamHeaders } from "./injection.js";
import type { Route } from "./routing.js";
import type { HttpSession } from "./sessions.js";

export const GRANT_ENDED_CLOSE = 4001;
const MAX_PAYLOAD = 64 * 1024 * 1024;
// Codes a peer may not send in a close frame; they describe the connection, not a wish.
const RESERVED_CLOSE = new Set([1004, 1005, 1006, 1015]);

const chosen = new WeakMap<IncomingMessage, string | false>();

export function websocketServer(): WebSocketServer {
  return new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false, handleProtocols: (_p, req) => chosen.get(req) ?? false });
}

/** A refusal written on the raw socket of an upgrade request, then closed. */
export function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Refused"}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => socket.destroy());
}

const STATUS_TEXT: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 502: "Bad Gateway" };

const closeReason = (reason: string) => {
  const b = Buffer.from(reason);
  return b.length <= 123 ? reason : b.subarray(0, 120).toString("utf8").replace(/\uFFFD+$/, "") + "...";
};

export interface WebsocketRelay {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  route: Extract<Route, { kind: "target" }>;
  access: Access;
  session: HttpSession;
  wss: WebSocketServer;
  clientAddress: string;
  publicHost: string;
  gatewayCookie: string;
}

export function relayWebsocket(w: WebsocketRelay): void {
  const started = performance.now();
  const { grant, options } = w.access;
  const host = grant.host.includes(":") ? `[${grant.host}]` : grant.host;
  const url = `${options.scheme === "https" ? "wss" : "ws"}://${host}:${grant.port}${w.route.upstreamPath}`;
  const headers = upstreamHeaders(w.req.rawHeaders, w.access.injection, {
    host: `${host}:${grant.port}`, clientAddress: w.clientAddress, publicHost: w.publicHost, prefix: w.route.prefix, gatewayCookie: w.gatewayCookie,
  }, true);
  delete headers.host;
  const protocols = (w.req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim()).filter((p) => p.length > 0);
  const upstream = new WebSocket(url, protocols, {
    headers: headers as Record<string, string>,
    handshakeTimeout: 10_000,
    maxPayload: MAX_PAYLOAD,
    perMessageDeflate: false,
    ...(options.scheme === "https" ? { ca: options.ca, rejectUnauthorized: !options.insecure, ...(options.serverName ? { servername: options.serverName } : {}) } : {}),
  });
  let upBytes = 0;
  let downBytes = 0;
  let opened = false;
  w.socket.on("error", () => upstream.terminate());
  w.socket.once("close", () => {
    if (!opened) upstream.terminate();
  });
  upstream.once("unexpected-response", (_r, resp) => {
    resp.resume();
    record(resp.statusCode ?? 502);
    refuseUpgrade(w.socket, 502, "UPSTREAM_REFUSED", `the target answered the websocket handshake with HTTP ${resp.statusCode}`);
    upstream.terminate();
  });
  upstream.once("error", (err) => {
    if (opened) return;
    record(502);
    refuseUpgrade(w.socket, 502, "UPSTREAM_UNREACHABLE", `the target did not accept the websocket at ${url.replace(/\?.*$/, "")}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
  });
  const record = (status: number) =>
    w.session.recording?.http({
      method: w.req.method ?? "GET", path: w.route.path, query: w.route.query, status, requestBytes: upBytes, responseBytes: downBytes,
      durationMs: Math.round(performance.now() - started), websocket: true,
    });
  upstream.once("open", () => {
    opened = true;
    if (w.session.closed !== null || w.socket.destroyed) {
      upstream.terminate();
      w.socket.destroy();
      return;
    }
    chosen.set(w.req, upstream.protocol || false);
    w.wss.handleUpgrade(w.req, w.socket, w.head, (client) => pair(client, upstream));
  });

  function pair(client: WebSocket, up: WebSocket): void {
    const remove = w.session.addWebsocket((reason) => {
      client.close(GRANT_ENDED_CLOSE, closeReason(reason));
      up.close(1001, "session ended by the gateway");
      // A peer that never answers the close handshake is dropped anyway.
      setTimeout(() => {
        client.terminate();
        up.terminate();
      }, 1_000).unref();
    });
    client.on("message", (data: RawData, isBinary) => {
      upBytes += size(data);
      if (up.readyState === WebSocket.OPEN) up.send(data as Buffer, { binary: isBinary });
    });
    up.on("message", (data: RawData, isBinary) => {
      downBytes += size(data);
      if (client.readyState === WebSocket.OPEN) client.send(data as Buffer, { binary: isBinary });
    });
    const relayClose = (to: WebSocket) => (code: number, reason: Buffer) => {
      if (to.readyState === WebSocket.OPEN) to.close(RESERVED_CLOSE.has(code) ? 1000 : code, reason);
      else if (to.readyState === WebSocket.CONNECTING) to.terminate();
    };
    client.on("close", relayClose(up));
    up.on("close", relayClose(client));
    client.on("error", () => up.terminate());
    up.on("error", () => client.terminate());
    let done = false;
    const end = () => {
      if (done || client.readyState !== WebSocket.CLOSED || up.readyState !== WebSocket.CLOSED) return;
      done = true;
      remove();
      record(101);
    };
    client.on("close", end);
    up.on("close", end);
  }
}

const size = (d: RawData) => (Array.isArray(d) ? d.reduce((s, b) => s + b.length, 0) : (d as Buffer | ArrayBuffer).byteLength);
