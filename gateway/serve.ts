// The composition root: builds one gateway node from its configuration.
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { createControlPlane, ensureAdmin, migrations, systemClock, type ControlPlane } from "../policies/index.js";
import { createApiServer } from "./api/server.js";
import { buildRouter } from "./api/routes/index.js";
import { MemoryBus } from "./bus/memory-bus.js";
import type { GatewayConfig } from "./config.js";
import { lockDataDir } from "./data-dir.js";
import { jsonLogger } from "./logger.js";
import { SessionRegistry } from "./session-registry.js";
import { openStore } from "./store/open.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeServerKey, vaultMigrations } from "../vault/index.js";
import { clusterLock } from "./store/cluster-lock.js";
import { loadAuthorities, serverCertificate } from "./vault/authorities.js";
import { openVault } from "./vault/unlock.js";
import { Rotations } from "./vault/rotation.js";
import { RotationTriggers } from "./vault/rotation-triggers.js";
import { EphemeralGrants } from "./vault/ephemeral-grants.js";

// Keys of session-level advisory locks the gateway takes while it starts and around a vault rekey.
const AUTHORITIES_LOCK = 7261534800101;
const REKEY_LOCK = 7261534800102;
import { VERSION } from "./version.js";
import { hostname } from "node:os";
import { ENGINES } from "./engines.js";
import type { EngineContext } from "./engine.js";
import { openRecorder } from "./recording/open.js";
import { attachLiveSockets } from "./api/live-socket.js";
import type { GatewayServices } from "./services.js";

export class ListenError extends Error {
  readonly code = "LISTEN_FAILED";
}

export interface RunningGateway {
  cp: ControlPlane;
  apiUrl: string;
  /** Each engine's bound port by engine name. */
  ports: Record<string, number>;
  caPath: string;
  close(): Promise<void>;
}

export async function serve(cfg: GatewayConfig, say: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<RunningGateway> {
  const logger = jsonLogger(cfg.logLevel);
  const unlock = cfg.databaseUrl === null ? lockDataDir(cfg.dataDir) : () => {};
  const cleanups: (() => Promise<void> | void)[] = [unlock];
  const close = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((err: unknown) => logger.error("shutdown step failed", { err: String(err) }));
    cleanups.length = 0;
  };
  // Made on the thread pool while the stores open; awaited (and its failure seen) only where it is used.
  const serverKey = makeServerKey();
  serverKey.catch(() => {});
  try {
    const store = await openStore({ url: cfg.databaseUrl, dataDir: cfg.dataDir }, [...migrations, ...vaultMigrations]);
    cleanups.push(() => store.close());
    const vault = await openVault(store, systemClock, { keyFile: cfg.vaultKeyFile, passphrase: env.JITGATE_VAULT_PASSPHRASE || null }, logger);
    cleanups.push(() => vault.secrets.close());
    const authorities = await loadAuthorities(vault.secrets, (fn) => clusterLock(store, AUTHORITIES_LOCK, fn));
    const bus = new MemoryBus(logger);
    const cp = createControlPlane({ sql: store, clock: systemClock, bus, logger }, { sessionTtlMs: cfg.sessionTtlMs, sweepIntervalMs: cfg.sweepIntervalMs });
    const admin = await ensureAdmin(cp, env.JITGATE_ADMIN_PASSWORD || null);
    if (admin.created) {
      say(admin.oneTimePassword
        ? `created user admin with one-time password: ${admin.oneTimePassword}\n(it must be changed at first login: jitgate passwd)`
        : "created user admin with the password from JITGATE_ADMIN_PASSWORD");
    }
    const sessions = new SessionRegistry(bus);
    cleanups.push(() => sessions.stop());
    const rotations = new Rotations(cp, vault.secrets, store);
    const rotationTriggers = new RotationTriggers(cp, rotations, { checkIntervalMs: cfg.rotationCheckIntervalMs });
    rotationTriggers.start();
    cleanups.push(() => rotationTriggers.stop());
    const ephemeral = new EphemeralGrants(cp, vault.secrets, logger);
    ephemeral.start();
    cleanups.push(() => ephemeral.stop());
    await cp.expiry.start();
    cleanups.push(() => cp.expiry.stop());
    const tls = serverCertificate(authorities.tls, cfg.host, await serverKey);
    const caPath = join(cfg.dataDir, "ca.pem");
    writeFileSync(caPath, authorities.tls.certPem);
    let ready = true;
    const router = buildRouter(async () => ready && (await store.query("SELECT 1")).length === 1, VERSION);
    const recording = await openRecorder(cfg, logger, { secrets: vault.secrets, serialise: (fn) => clusterLock(store, AUTHORITIES_LOCK, fn) });
    cleanups.push(() => recording.close());
    const ports: Record<string, number> = {};
    const svc: GatewayServices = { sessions, endpoints: ports, recordings: recording.reader, secrets: vault.secrets, authorities, rotations, rekey: { deps: { sql: store, clock: systemClock }, exclusive: (fn) => clusterLock(store, REKEY_LOCK, fn) } };
    const server = createApiServer({ cp, svc, router, logger, bodyLimit: cfg.bodyLimit, tls });
    attachLiveSockets(server, cp, svc, logger);
    server.listen(cfg.apiPort, cfg.host);
    await once(server, "listening").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") throw new ListenError(`port ${cfg.apiPort} on ${cfg.host} is in use: stop what uses it, or choose another with --api-port`);
      if (err.code === "EADDRNOTAVAIL") throw new ListenError(`${cfg.host} is not an address of this machine: use --host with one of its addresses, or 0.0.0.0`);
      throw err;
    });
    cleanups.push(async () => {
      ready = false;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    const ctx: EngineContext = { cp, svc, recorder: recording.recorder, sessions, logger, config: cfg, node: hostname(), tls };
    for (const factory of ENGINES) {
      const engine = factory(ctx);
      ports[engine.name] = await engine.listen();
      cleanups.push(() => engine.close());
      say(`${engine.name} on ${cfg.host}:${ports[engine.name]}`);
    }
    const port = (server.address() as AddressInfo).port;
    const host = cfg.host.includes(":") ? `[${cfg.host}]` : cfg.host;
    const apiUrl = `https://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
    logger.info("gateway ready", { api: apiUrl, store: store.kind, dataDir: cfg.dataDir });
    say(`jitgate ${VERSION}: API on ${apiUrl} (store: ${store.kind}); trust ${caPath}`);
    return { cp, apiUrl, ports, caPath, close };
  } catch (err) {
    await close();
    throw err;
  }
}
