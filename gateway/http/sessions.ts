// An HTTP session is one user's use of one grant on this node: it begins with the first
// request under the grant and holds every connection that carried one (a browser opens
// several, and keeps them alive between requests) and every websocket. The grant's end
// closes all of them at once; the session also ends once the last of them has been gone
// for IDLE_MS. A connection that carried requests of several grants belongs to each.
import type { Socket } from "node:net";
import type { LiveGrant } from "../../policies/index.js";
import type { EngineContext } from "../engine.js";
import { beginSession, type OpenSession } from "../session-lifecycle.js";

export const IDLE_MS = 60_000;

export class HttpSession {
  private readonly sockets = new Set<Socket>();
  private readonly websockets = new Set<(reason: string) => void>();
  private idle: NodeJS.Timeout | null = null;
  private open: OpenSession | null = null;
  closed: string | null = null;

  constructor(
    readonly grant: LiveGrant,
    private readonly idleMs: number,
    private readonly forget: () => void,
  ) {}

  started(open: OpenSession): void {
    this.open = open;
    if (this.closed !== null) void open.end(this.closed);
    else this.touch();
  }

  get recording(): OpenSession["recording"] | null {
    return this.open?.recording ?? null;
  }

  /** Keeps the connection with the session so the grant's end closes it. */
  attach(socket: Socket): void {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.once("close", () => {
      this.sockets.delete(socket);
      this.touch();
    });
    this.touch();
  }

  /** A relayed websocket; `close` ends both of its sides with the reason. Returns its removal. */
  addWebsocket(close: (reason: string) => void): () => void {
    this.websockets.add(close);
    this.touch();
    return () => {
      this.websockets.delete(close);
      this.touch();
    };
  }

  private touch(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    if (this.closed !== null || this.sockets.size > 0 || this.websockets.size > 0) return;
    this.idle = setTimeout(() => this.end("client left"), this.idleMs);
    this.idle.unref();
  }

  /** Called by the registry at the grant's end (and at shutdown): everything closes now. */
  cut(reason: string): void {
    if (this.closed !== null) return;
    for (const close of this.websockets) close(reason);
    for (const s of this.sockets) s.destroy();
    this.end(reason);
  }

  private end(reason: string): void {
    if (this.closed === null) this.closed = reason;
    if (this.idle) clearTimeout(this.idle);
    this.forget();
    void this.open?.end(reason);
  }
}

export class HttpSessions {
  private readonly byGrant = new Map<string, Promise<HttpSession>>();
  /** The sessions of byGrant that have begun. */
  private readonly begun = new Map<string, HttpSession>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly idleMs = IDLE_MS,
  ) {}

  /** The session of this grant if it has begun, else null (then ask get()). */
  begunSession(grantId: string): HttpSession | null {
    return this.begun.get(grantId) ?? null;
  }

  /** The session of this grant on this node, begun on first use. */
  get(grant: LiveGrant, clientAddress: string): Promise<HttpSession> {
    let p = this.byGrant.get(grant.grantId);
    if (p) return p;
    const session = new HttpSession(grant, this.idleMs, () => {
      if (this.byGrant.get(grant.grantId) === p) this.byGrant.delete(grant.grantId);
      if (this.begun.get(grant.grantId) === session) this.begun.delete(grant.grantId);
    });
    p = beginSession(this.ctx, { protocol: "http", grant, clientAddress, close: (reason) => session.cut(reason) }).then((open) => {
      session.started(open);
      if (session.closed === null && this.byGrant.get(grant.grantId) === p) this.begun.set(grant.grantId, session);
      return session;
    });
    this.byGrant.set(grant.grantId, p);
    p.catch(() => this.byGrant.delete(grant.grantId));
    return p;
  }

  async closeAll(reason: string): Promise<void> {
    const all = await Promise.allSettled([...this.byGrant.values()]);
    for (const r of all) if (r.status === "fulfilled") r.value.cut(reason);
  }
}
