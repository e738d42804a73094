// Turns a plaintext client socket into TLS after SSLRequest. One tls.Server does the
// handshakes (it is never bound to a port), so client certificates are checked against
// the gateway's root by OpenSSL and `authorized` is set as on any TLS server.
import type { Socket } from "node:net";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { PgGatewayError } from "./errors.js";

export class TlsUpgrader {
  private readonly server: Server;
  private readonly waiting = new Map<string, { resolve: (s: TLSSocket) => void; reject: (e: Error) => void }>();

  constructor(opts: { key: string; cert: string; ca: string }) {
    this.server = createServer({ key: opts.key, cert: opts.cert, ca: [opts.ca], requestCert: true, rejectUnauthorized: false });
    this.server.on("secureConnection", (s: TLSSocket) => this.settle(s, null));
    this.server.on("tlsClientError", (err: Error, s: TLSSocket) => this.settle(s, err));
  }

  private settle(s: TLSSocket, err: Error | null): void {
    const key = `${s.remoteAddress}:${s.remotePort}`;
    const w = this.waiting.get(key);
    if (!w) return;
    this.waiting.delete(key);
    if (err) w.reject(new PgGatewayError("PG_CLOSED", "08006", `the TLS handshake failed: ${err.message}`, { cause: err }));
    else w.resolve(s);
  }

  upgrade(raw: Socket, timeoutMs: number): Promise<TLSSocket> {
    const key = `${raw.remoteAddress}:${raw.remotePort}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        raw.destroy();
        reject(new PgGatewayError("PG_TIMEOUT", "08006", `the TLS handshake did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => clearTimeout(timer);
      raw.once("close", () => {
        if (!this.waiting.delete(key)) return;
        done();
        reject(new PgGatewayError("PG_CLOSED", "08006", "the client left during the TLS handshake"));
      });
      this.waiting.set(key, {
        resolve: (s) => {
          done();
          s.on("error", () => undefined);
          resolve(s);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      this.server.emit("connection", raw);
    });
  }
}
