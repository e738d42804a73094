// The PostgreSQL engine: stock psql and drivers connect with user=<gateway user>,
// dbname=<target>/<database> and their grant's token (or a client certificate).
import { once } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import type { Engine, EngineContext } from "../engine.js";
import { CancelKeys } from "./cancel.js";
import { PgListenError } from "./errors.js";
import { handleConnection, type ConnectionDeps } from "./connection.js";
import { GrantTokens, loadTokenKey } from "./grant-token.js";
import type { Relay } from "./relay.js";
import { TlsUpgrader } from "./tls-upgrade.js";

export function postgresEngine(ctx: EngineContext): Engine {
  let server: Server | null = null;
  const live = new Set<Relay>();
  const keys = new CancelKeys();
  const sockets = new Set<Socket>();
  let unsubscribe: (() => void) | null = null;
  return {
    name: "postgres",
    async listen() {
      const key = await loadTokenKey(ctx.svc.secrets);
      const tokens = new GrantTokens(key);
      unsubscribe = ctx.cp.deps.bus.subscribe("grant.ended", (e) => tokens.forget(e.grantId));
      const tls = new TlsUpgrader({ key: ctx.tls.key, cert: ctx.tls.cert, ca: ctx.svc.authorities.tls.certPem });
      const deps: ConnectionDeps = { ctx, tokens, keys, live, tls };
      const s = createServer({ noDelay: true }, (socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        handleConnection(deps, socket).catch((err: unknown) => {
          ctx.logger.error("postgres connection handler failed", { err: err instanceof Error ? err.message : String(err) });
          socket.destroy();
        });
      });
      s.on("error", (err) => ctx.logger.error("postgres listener error", { err: err.message }));
      server = s;
      s.listen(ctx.config.pgPort, ctx.config.host);
      await once(s, "listening").catch((err: NodeJS.ErrnoException) => {
        if (err.code === "EADDRINUSE") throw new PgListenError(`port ${ctx.config.pgPort} on ${ctx.config.host} is in use: stop what uses it, or choose another with --pg-port`);
        throw err;
      });
      return (s.address() as AddressInfo).port;
    },
    async close() {
      unsubscribe?.();
      for (const relay of live) relay.cut("jitgate: the gateway is shutting down");
      const s = server;
      if (!s) return;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      // Give the FATAL messages a moment to leave, then drop whatever is left (handshakes too).
      await new Promise((r) => setTimeout(r, 100));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
