// Opening the session on the target: TLS when the target offers it (verified when the
// configuration says so), the startup message, authentication by SCRAM-SHA-256 (server
// signature checked), MD5 or, over TLS only, cleartext, then the server's greeting up to
// its first ReadyForQuery. What the greeting carried is handed to the relay.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { serialize } from "pg-protocol";
import type { PgTlsMode } from "../config.js";
import { PgGatewayError } from "./errors.js";
import { MessageReader } from "./reader.js";
import { ScramClient } from "./scram.js";
import { message, parseErrorFields } from "./wire.js";

export interface UpstreamSpec {
  host: string;
  port: number;
  tls: { mode: PgTlsMode; caFile: string | null };
  user: string;
  /** The vault's password; wiped by the caller. */
  password: Buffer;
  database: string;
  params: Map<string, string>;
  timeoutMs: number;
}

export interface Upstream {
  socket: Socket | TLSSocket;
  encrypted: boolean;
  /** ParameterStatus and NoticeResponse messages of the greeting, as the server sent them. */
  greeting: Buffer[];
  backendKey: { pid: number; secret: number };
  /** Bytes after the greeting's ReadyForQuery, if any. */
  rest: Buffer;
}

const failed = (spec: UpstreamSpec, what: string, cause?: unknown) =>
  new PgGatewayError("PG_UPSTREAM", "08006", `cannot reach the target at ${spec.host}:${spec.port}: ${what}`, { cause });

function openSocket(spec: UpstreamSpec): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: spec.host, port: spec.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(failed(spec, `no answer within ${spec.timeoutMs} ms`));
    }, spec.timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(failed(spec, err.message, err));
    });
  });
}

function startTls(spec: UpstreamSpec, socket: Socket): Promise<TLSSocket> {
  const verify = spec.tls.mode === "verify-ca" || spec.tls.mode === "verify-full";
  return new Promise((resolve, reject) => {
    const options: ConnectionOptions = { socket, host: spec.host, rejectUnauthorized: verify };
    // SNI carries names only; the certificate is still checked against an address.
    if (!isIP(spec.host)) options.servername = spec.host;
    if (spec.tls.caFile) options.ca = readFileSync(spec.tls.caFile);
    if (spec.tls.mode !== "verify-full") options.checkServerIdentity = () => undefined;
    const tls = tlsConnect(options);
    const timer = setTimeout(() => {
      tls.destroy();
      reject(failed(spec, "the TLS handshake did not finish"));
    }, spec.timeoutMs);
    tls.once("secureConnect", () => {
      clearTimeout(timer);
      tls.removeAllListeners("error");
      resolve(tls);
    });
    tls.once("error", (err) => {
      clearTimeout(timer);
      reject(failed(spec, `TLS: ${err.message}`, err));
    });
  });
}

function serverError(body: Buffer, stage: string): PgGatewayError {
  const f = parseErrorFields(body);
  const sqlstate = f.get("C") ?? "08006";
  const auth = sqlstate.startsWith("28");
  return new PgGatewayError(auth ? "PG_UPSTREAM_AUTH" : "PG_UPSTREAM", sqlstate, `the target refused the ${stage}: ${f.get("M") ?? "no message"}`);
}

/** Connects, authenticates and reads the greeting; the socket is closed on any failure. */
export async function connectUpstream(spec: UpstreamSpec): Promise<Upstream> {
  let socket: Socket | TLSSocket = await openSocket(spec);
  const raw = socket;
  const reader = new MessageReader(socket, { maxMessage: 1 << 20, timeoutMs: spec.timeoutMs, peer: "target" });
  try {
    let encrypted = false;
    if (spec.tls.mode !== "disable") {
      socket.write(serialize.requestSsl());
      const answer = await reader.byte();
      if (answer === 0x53) {
        reader.detach();
        socket = await startTls(spec, raw);
        reader.switchTo(socket);
        encrypted = true;
      } else if (answer !== 0x4e) {
        throw failed(spec, "it does not answer like a PostgreSQL server");
      } else if (spec.tls.mode !== "prefer") {
        throw failed(spec, `it does not offer TLS, and the gateway's configuration requires it (upstreamTls mode ${spec.tls.mode})`);
      }
    }
    const startup: Record<string, string> = { user: spec.user, database: spec.database, ...Object.fromEntries(spec.params) };
    socket.write(serialize.startup(startup));
    await authenticate(spec, socket, reader, encrypted);
    const greeting: Buffer[] = [];
    let backendKey: Upstream["backendKey"] | null = null;
    for (;;) {
      const m = await reader.typed();
      if (m.type === "Z") break;
      if (m.type === "K" && m.body.length >= 8) backendKey = { pid: m.body.readInt32BE(0), secret: m.body.readInt32BE(4) };
      else if (m.type === "S" || m.type === "N") greeting.push(message(m.type, m.body));
      else if (m.type === "E") throw serverError(m.body, "session");
    }
    if (!backendKey) throw failed(spec, "it sent no backend key");
    return { socket, encrypted, greeting, backendKey, rest: reader.detach() };
  } catch (err) {
    reader.detach();
    socket.destroy();
    raw.destroy();
    throw err;
  }
}

async function authenticate(spec: UpstreamSpec, socket: Socket | TLSSocket, reader: MessageReader, encrypted: boolean): Promise<void> {
  let scram: ScramClient | null = null;
  for (;;) {
    const m = await reader.typed();
    if (m.type === "E") throw serverError(m.body, "login");
    if (m.type === "N") continue;
    if (m.type !== "R" || m.body.length < 4) throw failed(spec, `unexpected message ${JSON.stringify(m.type)} during authentication`);
    const code = m.body.readInt32BE(0);
    if (code === 0) {
      // A server that skips SCRAM's final message has not proved it knows the password.
      if (scram) throw new PgGatewayError("PG_UPSTREAM_AUTH", "28000", "the target ended the SCRAM exchange without proving it knows the account's password");
      return;
    }
    if (code === 3) {
      if (!encrypted) throw new PgGatewayError("PG_UPSTREAM_AUTH", "28000", "the target asks for a cleartext password over an unencrypted connection: the gateway refuses to send it (enable TLS on the target or use scram-sha-256)");
      socket.write(serialize.password(spec.password.toString("utf8")));
    } else if (code === 5) {
      const salt = m.body.subarray(4, 8);
      const inner = createHash("md5").update(spec.password).update(spec.user).digest("hex");
      socket.write(serialize.password(`md5${createHash("md5").update(inner).update(salt).digest("hex")}`));
    } else if (code === 10) {
      const mechanisms = m.body.toString("utf8", 4).split("\0");
      if (!mechanisms.includes("SCRAM-SHA-256")) throw failed(spec, `it offers only ${mechanisms.filter(Boolean).join(", ")}`);
      scram = new ScramClient(spec.password);
      socket.write(serialize.sendSASLInitialResponseMessage("SCRAM-SHA-256", scram.first()));
    } else if (code === 11 && scram) {
      socket.write(serialize.sendSCRAMClientFinalMessage(scram.final(m.body.toString("utf8", 4))));
    } else if (code === 12 && scram) {
      scram.verify(m.body.toString("utf8", 4));
      scram = null;
    } else {
      throw failed(spec, `it asks for an authentication method the gateway does not speak (code ${code})`);
    }
  }
}
