// Watching a live session over a websocket: GET /api/v1/sessions/:id/live?channel=N with the
// API token (Authorization: Bearer, or the subprotocol "bearer.TOKEN" for browsers, which
// cannot set headers on a websocket). The viewer gets the current screen first, then every
// event after it as JSON messages, then {type:"end"}. A viewer that cannot keep up is cut
// rather than let it buffer without bound; the watched session never waits for a viewer.
import type { IncomingMessage } from "node:http";
import type { Server } from "node:https";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Actor, ControlPlane, Logger } from "../../policies/index.js";
import type { LiveMessage } from "../../recorder/index.js";
import type { GatewayServices } from "../services.js";
import { HttpError, toErrorResponse } from "./http-errors.js";
import { auditView, visibleSession } from "./routes/recording-routes.js";
import { eventDto } from "./sessions-dto.js";

const PATH = /^\/api\/v1\/sessions\/([^/]+)\/live$/;
const MAX_BUFFERED = 8 << 20;

function tokenOf(req: IncomingMessage): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  if (m?.[1]) return m[1];
  for (const p of (req.headers["sec-websocket-protocol"] ?? "").split(",")) {
    const t = p.trim();
    if (t.startsWith("bearer.")) return t.slice(7);
  }
  return null;
}

function refuse(socket: Duplex, err: unknown, logger: Logger): void {
  const mapped = toErrorResponse(err);
  if (!mapped) logger.error("live view failed", { err: String(err) });
  const status = mapped?.status ?? 500;
  const body = JSON.stringify(mapped?.body ?? { code: "INTERNAL", message: "internal error" });
  socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function wire(message: LiveMessage): string {
  return JSON.stringify(message.type === "event" ? { type: "event", event: eventDto(message.event) } : message);
}

export function attachLiveSockets(server: Server, cp: ControlPlane, svc: GatewayServices, logger: Logger): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096, handleProtocols: (protocols) => [...protocols].find((p) => p.startsWith("bearer.")) ?? false });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "https://gateway.invalid");
      const m = PATH.exec(url.pathname);
      if (!m) throw new HttpError(404, "NOT_FOUND", `no websocket at ${url.pathname}; live views are at /api/v1/sessions/ID/live`);
      const token = tokenOf(req);
      if (!token) throw new HttpError(401, "AUTH_REQUIRED", "log in first: jitgate login --server URL --user NAME");
      const { user } = await cp.tokens.resolve(token);
      if (user.mustChangePassword) throw new HttpError(403, "PASSWORD_CHANGE_REQUIRED", "change your one-time password first: jitgate passwd");
      const actor: Actor = { id: user.id, name: user.name, roles: user.roles, groups: user.groups };
      if (!actor.roles.includes("auditor") && !actor.roles.includes("admin")) throw new HttpError(403, "ROLE_REQUIRED", "only auditors and admins watch live sessions");
      const session = await visibleSession(svc.recordings, actor, decodeURIComponent(m[1] ?? ""));
      if (!session.live) throw new HttpError(409, "SESSION_ENDED", `session ${session.sessionId} has ended; replay it with: jitgate replay ${session.sessionId}`);
      const channelParam = url.searchParams.get("channel");
      let channel: number | undefined = channelParam === null ? undefined : Number(channelParam);
      if (channel !== undefined && (!Number.isSafeInteger(channel) || channel < 0)) throw new HttpError(400, "INVALID_QUERY", `channel must be a recording channel number, not ${JSON.stringify(channelParam)}`);
      if (channel === undefined) {
        const opened = await svc.recordings.events(session.sessionId, { kinds: ["channel_open"], limit: 1000 });
        const pty = opened.events.find((e) => e.kind === "channel_open" && e.open.pty !== null);
        channel = pty?.channel;
      }
      await auditView(cp, actor, session, "live");
      wss.handleUpgrade(req, socket, head, (ws) => stream(ws, svc, session.sessionId, channel, logger));
    })().catch((err: unknown) => refuse(socket, err, logger));
  });
}

function stream(ws: WebSocket, svc: GatewayServices, sessionId: string, channel: number | undefined, logger: Logger): void {
  let sub: { unsubscribe(): void } | null = null;
  const stop = () => sub?.unsubscribe();
  ws.on("close", stop);
  ws.on("error", stop);
  sub = svc.recordings.watch(sessionId, (message) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED) {
      ws.close(1013, "viewer too slow; reconnect to resume from the current screen");
      stop();
      return;
    }
    ws.send(wire(message));
    if (message.type === "end") ws.close(1000, "session ended");
  }, channel === undefined ? {} : { channel });
  if (!sub) {
    logger.warn("live view of a session not held by this node", { sessionId });
    ws.close(1011, "this session is held by another gateway node; watch it there");
  }
}
