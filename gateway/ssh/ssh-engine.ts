// The SSH engine: stock ssh, scp and sftp clients log in with a certificate from the
// gateway's user CA as LOGIN@TARGET, and are relayed to the target under a live grant.
import { createServer, type Server as NetServer, type Socket } from "node:net";
import ssh2 from "ssh2";
import { auditRefusal } from "../session-lifecycle.js";
import type { Engine, EngineContext, EngineFactory } from "../engine.js";
import { SshListenError } from "./errors.js";
import { GatewayConnection } from "./connection.js";
import { ed25519PemToOpenSsh } from "./host-key.js";
import { makeUpstreamKey } from "./upstream.js";

class SshEngine implements Engine {
  readonly name = "ssh";
  private server: NetServer | null = null;
  private readonly connections = new Set<GatewayConnection>();

  constructor(private readonly ctx: EngineContext) {}

  async listen(): Promise<number> {
    const { ctx } = this;
    const upstreamKey = makeUpstreamKey();
    // Sockets by peer, from accept until ssh2 has read the client's version line.
    const early = new Map<string, Socket>();
    const ssh = new ssh2.Server(
      { hostKeys: [ed25519PemToOpenSsh(ctx.svc.authorities.sshHostKey.privateKeyPem)], ident: "jitgate", algorithms: { cipher: ctx.config.ssh.ciphers } },
      (client, info) => {
        const key = `${info.ip}:${info.port}`;
        const socket = early.get(key);
        early.delete(key);
        if (!socket) return client.end();
        const conn: GatewayConnection = new GatewayConnection({ ctx, upstreamKey, done: () => this.connections.delete(conn) }, client, socket);
        this.connections.add(conn);
      },
    );
    ssh.on("error", (err: Error) => ctx.logger.warn("ssh connection failed before login", { err: err.message }));
    // Our own listener, so a client that never sends its version line is timed out too.
    const server = createServer((socket) => {
      const key = `${socket.remoteAddress}:${socket.remotePort}`;
      early.set(key, socket);
      const timer = setTimeout(() => {
        if (!early.has(key)) return;
        void auditRefusal(ctx, { protocol: "ssh", userName: null, targetName: null, login: null, reason: `SSH_HANDSHAKE_TIMEOUT: no SSH version line within ${ctx.config.ssh.handshakeTimeoutMs} ms`, clientAddress: socket.remoteAddress ?? "" });
        socket.destroy();
      }, ctx.config.ssh.handshakeTimeoutMs);
      timer.unref();
      socket.once("close", () => {
        clearTimeout(timer);
        early.delete(key);
      });
      socket.on("error", () => undefined);
      ssh.injectSocket(socket);
    });
    this.server = server;
    server.on("error", (err: Error) => ctx.logger.error("ssh listener error", { err: err.message }));
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => {
        if (err.code === "EADDRINUSE") reject(new SshListenError(`port ${ctx.config.sshPort} on ${ctx.config.host} is in use: stop what uses it, or choose another with --ssh-port`));
        else reject(err);
      };
      server.once("error", failed);
      server.listen(ctx.config.sshPort, ctx.config.host, () => {
        server.off("error", failed);
        resolve();
      });
    });
    return (server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close("jitgate: the gateway is shutting down — session closed");
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export const sshEngine: EngineFactory = (ctx) => new SshEngine(ctx);
