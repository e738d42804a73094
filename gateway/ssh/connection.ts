// One client connection, top to bottom: the handshake (bounded in time), the certificate and
// the live grant, the upstream login, the session's registration and recording, its channels,
// and its end: by the client, by the target, or by the grant (warned first, then cut with
// one line on every channel that shows text).
import type { Socket } from "node:net";
import type ssh2 from "ssh2";
import type { Protocol } from "../../recorder/index.js";
import type { EngineContext } from "../engine.js";
import { auditRefusal, beginSession, type OpenSession } from "../session-lifecycle.js";
import { checkCertificate, checkPossession, findGrant, isCertificateAlgorithm, parseDestination, type CheckedCertificate, type Destination } from "./client-auth.js";
import { SshEngineError } from "./errors.js";
import { SessionRelay, type ChannelHost } from "./session-channel.js";
import { connectUpstream, type UpstreamKey } from "./upstream.js";

const PROTOCOL: Protocol = "ssh";
// setTimeout's ceiling; longer waits are re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;

function at(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = ms - Date.now();
    timer = setTimeout(left > MAX_TIMER_MS ? arm : fn, Math.max(0, Math.min(left, MAX_TIMER_MS)));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

/** ASCII for the SSH disconnect description, which OpenSSH prints escaped otherwise. */
const ascii = (s: string) => s.replace(/—/g, "-").replace(/[^\x20-\x7e]/g, "?");

export interface ConnectionDeps {
  ctx: EngineContext;
  upstreamKey: UpstreamKey;
  /** Called once the connection is gone. */
  done(): void;
}

export class GatewayConnection implements ChannelHost {
  private dest: Destination | null = null;
  private checked: CheckedCertificate | null = null;
  private session: OpenSession | null = null;
  private up: ssh2.Client | null = null;
  private readonly relays = new Set<SessionRelay>();
  private readonly timers: (() => void)[] = [];
  private refused = false;
  private channels = 0;
  private readonly address: string;
  private idle: (() => void) | null = null;
  private stopWarning: (() => void) | null = null;
  /** Set once the warning time has passed: channels opening later are warned as they open. */
  private lateWarning: (() => string) | null = null;
  closing = false;

  constructor(
    private readonly deps: ConnectionDeps,
    private readonly client: ssh2.Connection,
    private readonly socket: Socket,
  ) {
    this.address = socket.remoteAddress ?? "";
    const { ctx } = deps;
    const handshake = setTimeout(() => void this.refuseConnection(new SshEngineError("SSH_HANDSHAKE_TIMEOUT", `not logged in within ${ctx.config.ssh.handshakeTimeoutMs} ms`)), ctx.config.ssh.handshakeTimeoutMs);
    handshake.unref();
    this.timers.push(() => clearTimeout(handshake));
    client.on("authentication", (auth) => void this.authenticate(auth).catch((err: unknown) => this.refuseConnection(err)));
    client.on("ready", () => {
      clearTimeout(handshake);
      this.ready();
    });
    client.on("error", (err) => {
      // Garbage, truncated packets, failed key exchange: before login they are a refusal.
      if (!this.session && !this.refused) void this.refuseConnection(new SshEngineError("SSH_PROTOCOL", `protocol error: ${err.message}`));
      else ctx.logger.warn("ssh client connection error", { sessionId: this.session?.id, err: err.message });
    });
    client.on("close", () => void this.finish("client disconnected"));
  }

  get recording() {
    return this.requireSession().recording;
  }

  get upstream(): ssh2.Client {
    if (!this.up) throw new Error("no upstream yet");
    return this.up;
  }

  get envAllowed(): string[] {
    return this.deps.ctx.config.ssh.env;
  }

  get forwarding(): boolean {
    return this.session?.grant.sessionOptions.forwarding === true;
  }

  refuse(reason: string): void {
    const g = this.session?.grant;
    void auditRefusal(this.deps.ctx, { protocol: PROTOCOL, userName: g?.userName ?? null, targetName: g?.targetName ?? null, login: g?.login ?? null, reason, clientAddress: this.address });
  }

  track(relay: SessionRelay): () => void {
    this.relays.add(relay);
    const late = this.lateWarning;
    if (late && relay.interactive) queueMicrotask(() => relay.say(late()));
    return () => {
      this.relays.delete(relay);
      if (this.relays.size === 0) this.idle?.();
    };
  }

  /** The registry's cut: one line on each channel that shows text, then the connection closes. */
  close(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    let told = false;
    for (const r of [...this.relays]) told = r.cut(reason) || told;
    let gone = false;
    const disconnect = () => {
      if (gone) return;
      gone = true;
      // A client with only sftp open (or none) hears it in the disconnect itself.
      (this.client.end as (description?: string) => void)(told ? undefined : ascii(reason));
      this.up?.end();
      // A client that does not read cannot hold the connection open.
      setTimeout(() => this.destroy(), 2_000).unref();
    };
    // Disconnect once the client closed the channels (it has shown the line), or soon anyway.
    if (this.relays.size === 0) disconnect();
    else {
      this.idle = disconnect;
      setTimeout(disconnect, 1_000).unref();
    }
    void this.finish(reason);
  }

  private requireSession(): OpenSession {
    if (!this.session) throw new Error("no session yet");
    return this.session;
  }

  private async authenticate(auth: ssh2.AuthContext): Promise<void> {
    const { ctx } = this.deps;
    if (this.refused || this.closing) return auth.reject();
    this.dest ??= parseDestination(auth.username);
    if (auth.method !== "publickey") return auth.reject(["publickey"]);
    if (!isCertificateAlgorithm(auth.key.algo)) {
      // Other keys the client holds are not an error: it may have the certificate next.
      return auth.reject(["publickey"]);
    }
    const checked = checkCertificate(auth.key.data, ctx.svc.authorities.sshUser.publicBlob, this.address, Date.now());
    if (!auth.signature || !auth.blob) return auth.accept();
    checkPossession(checked.cert, auth.blob, auth.signature, auth.hashAlgo);
    this.checked = checked;
    const grant = await findGrant(ctx.cp, checked, this.dest);
    const session = await beginSession(ctx, { protocol: PROTOCOL, grant, clientAddress: this.address, close: (reason) => this.close(reason) });
    this.session = session;
    try {
      this.up = await connectUpstream(ctx, grant, { sessionId: session.id, key: this.deps.upstreamKey, timeoutMs: ctx.config.ssh.upstreamTimeoutMs });
    } catch (err) {
      await session.end(`upstream failed: ${(err as Error).message}`);
      this.session = null;
      throw err;
    }
    if (this.closing) return;
    this.up.on("close", () => this.close(`jitgate: ${grant.targetName} closed the connection`));
    auth.accept();
  }

  private ready(): void {
    const session = this.requireSession();
    const grant = session.grant;
    this.armWarning(grant.notAfter.getTime());
    // An extension moves the end: the warning follows it.
    const unsubscribe = this.deps.ctx.cp.deps.bus.subscribe("grant.scheduled", (e) => {
      if (e.grantId === grant.grantId) this.armWarning(Date.parse(e.notAfter));
    });
    this.timers.push(unsubscribe);
    this.client.on("session", (accept, reject) => {
      if (this.closing) return reject();
      new SessionRelay(this, accept(), this.channels++);
    });
    this.client.on("tcpip", (accept, reject, info) => {
      if (this.closing || !this.forwarding) {
        this.refuse(`port forwarding to ${info.destIP}:${info.destPort} refused: the grant's policy does not allow forwarding`);
        return reject();
      }
      this.upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
        if (err) return reject();
        const down = accept();
        down.pipe(up).pipe(down);
        down.on("error", () => undefined);
        up.on("error", () => undefined);
      });
    });
    this.client.on("request", (_accept, reject, name) => {
      // Keepalives and no-more-sessions are answered with a plain failure, as sshd does.
      if (/forward/.test(name)) this.refuse(`${name} refused: remote forwarding is not offered`);
      reject?.();
    });
    // ssh2 answers channel types it has no event for (x11, streamlocal) with "unknown channel type".
  }

  /** Warns interactive channels warnBefore ahead of the end, or as they open if that time has passed. */
  private armWarning(notAfter: number): void {
    this.stopWarning?.();
    this.stopWarning = null;
    this.lateWarning = null;
    const grantId = this.requireSession().grant.grantId;
    const line = () => {
      const left = Math.max(1, Math.round((notAfter - Date.now()) / 1000));
      return `jitgate: grant ${grantId} ends in ${left} s (${new Date(notAfter).toISOString()}); extend it with: jitgate extend ${grantId} --for 30m --reason "..."`;
    };
    const warnAt = notAfter - this.deps.ctx.config.ssh.warnBeforeMs;
    if (warnAt > Date.now()) {
      this.stopWarning = at(warnAt, () => {
        this.lateWarning = line;
        for (const r of this.relays) if (r.interactive) r.say(line());
      });
    } else {
      this.lateWarning = line;
      for (const r of this.relays) if (r.interactive) r.say(line());
    }
  }

  private async refuseConnection(err: unknown): Promise<void> {
    if (this.refused) return;
    this.refused = true;
    const { ctx } = this.deps;
    const known = err instanceof SshEngineError;
    const reason = known ? err.message : "internal error";
    if (!known) ctx.logger.error("ssh login failed", { err: String(err) });
    const principal = this.checked?.principal ?? null;
    await auditRefusal(ctx, { protocol: PROTOCOL, userName: principal, targetName: this.dest?.target ?? null, login: this.dest?.login ?? null, reason: known ? `${err.code}: ${reason}` : reason, clientAddress: this.address });
    (this.client.end as (description?: string) => void)(ascii(`jitgate: ${reason}`));
    const kill = setTimeout(() => this.destroy(), 1_000);
    kill.unref();
  }

  private destroy(): void {
    this.socket.destroy();
  }

  private async finish(reason: string): Promise<void> {
    for (const stop of this.timers.splice(0)) stop();
    this.stopWarning?.();
    this.closing = true;
    this.up?.end();
    const session = this.session;
    if (session) await session.end(reason).catch(() => undefined);
    this.deps.done();
  }
}
