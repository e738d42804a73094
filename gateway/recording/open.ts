// Opens this node's recorder: ClickHouse (embedded under DATA/clickhouse, or the server at
// clickhouse.url), the spool under DATA/recording-spool, and the Ed25519 key that signs each
// session's final digest, kept in the vault like the gateway's other keys.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { join } from "node:path";
import type { Logger } from "../../policies/index.js";
import {
  createRecorder, ed25519Signer, ed25519Verifier, openClickHouse, RecordingReader, type Recorder, type RecordingSigner,
} from "../../recorder/index.js";
import type { SecretStore } from "../../vault/index.js";
import type { GatewayConfig } from "../config.js";

export interface NodeRecorder {
  /** What engines write to (and this node's live sessions, for watching). */
  recorder: Recorder;
  /** Sessions, events, keyframes, search, terminal export, verification, live watching. */
  reader: RecordingReader;
  /** Ends open recordings, stores or spools every event, closes ClickHouse. */
  close(): Promise<void>;
}

export interface RecorderDeps {
  /** The vault: where the signing key is kept. Without it final digests are stored unsigned. */
  secrets?: SecretStore | null;
  /** Runs the key's first creation under a cluster-wide lock, so nodes starting together make one. */
  serialise?: <T>(fn: () => Promise<T>) => Promise<T>;
}

export const RECORDING_SIGNING_KEY = "jitgate/recording-signing-key";

/** The signing key (made on first start) and every public key it has had, for verifying older sessions. */
export async function loadRecordingKeys(secrets: SecretStore, serialise: RecorderDeps["serialise"]): Promise<{ signer: RecordingSigner; publicKeys: KeyObject[] }> {
  const make = async () => {
    if (await secrets.has(RECORDING_SIGNING_KEY)) return;
    const pem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await secrets.put(RECORDING_SIGNING_KEY, "private-key", Buffer.from(pem), "system", "created at first start");
  };
  await (serialise ? serialise(make) : make());
  const signerOf = (value: Buffer) => {
    try {
      return ed25519Signer(value.toString("utf8"));
    } finally {
      value.fill(0);
    }
  };
  const signer = signerOf(await secrets.current(RECORDING_SIGNING_KEY));
  const publicKeys = [signer.publicKey];
  for (const v of await secrets.versions(RECORDING_SIGNING_KEY)) {
    if (v.state !== "current" && v.state !== "retired") continue;
    const older = signerOf(await secrets.read(RECORDING_SIGNING_KEY, v.version));
    if (older.keyId !== signer.keyId) publicKeys.push(older.publicKey);
  }
  return { signer, publicKeys };
}

export async function openRecorder(cfg: GatewayConfig, logger: Logger, deps: RecorderDeps = {}): Promise<NodeRecorder> {
  const keys = deps.secrets ? await loadRecordingKeys(deps.secrets, deps.serialise) : null;
  const ch = await openClickHouse(cfg.clickhouseUrl ? { url: cfg.clickhouseUrl } : { path: join(cfg.dataDir, "clickhouse") });
  let recorder: Recorder;
  try {
    recorder = await createRecorder({
      client: ch.client,
      database: cfg.clickhouseDatabase,
      logger,
      spoolDir: join(cfg.dataDir, "recording-spool"),
      localInsertDir: ch.embedded ? join(cfg.dataDir, "recording-ingest") : null,
      signer: keys?.signer ?? null,
      retentionDays: cfg.recordingRetentionDays,
      // Embedded, the database is this gateway's alone: what an earlier run left open is sealed.
      sealUnended: ch.embedded,
    });
  } catch (err) {
    await ch.close();
    throw err;
  }
  const reader = new RecordingReader({ client: ch.client, database: cfg.clickhouseDatabase, recorder, verifier: keys ? ed25519Verifier(keys.publicKeys) : null });
  logger.info("recorder ready", { clickhouse: ch.embedded ? "embedded" : "served", database: cfg.clickhouseDatabase, retentionDays: cfg.recordingRetentionDays, signed: keys !== null });
  return {
    recorder,
    reader,
    async close() {
      try {
        await recorder.close();
      } finally {
        await ch.close();
      }
    },
  };
}
