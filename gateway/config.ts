// Gateway configuration: a YAML file (optional), overridden by command-line flags.
// Unknown fields are refused with their file and line, like policy files.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { parseDuration, parseYaml } from "../policies/index.js";

const port = z.number().int().min(0).max(65535);
const duration = z.string().transform((s, ctx) => {
  try {
    return parseDuration(s);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const PG_TLS_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
const SSH_CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"] as const;
const url = (schemes: string[]) =>
  z.string().refine((s) => {
    try {
      return schemes.includes(new URL(s).protocol.replace(":", ""));
    } catch {
      return false;
    }
  }, `must be a URL starting with ${schemes.map((s) => `${s}://`).join(" or ")}`);

const fileSchema = z.strictObject({
  dataDir: z.string().optional(),
  host: z.string().optional(),
  api: z.strictObject({ port: port.optional(), bodyLimit: z.number().int().min(1024).max(16 << 20).optional() }).optional(),
  ssh: z
    .strictObject({
      port: port.optional(),
      handshakeTimeout: duration.optional(),
      warnBefore: duration.optional(),
      upstreamTimeout: duration.optional(),
      env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, "an environment variable name, or a prefix ending in *")).max(64).optional(),
      ciphers: z.array(z.enum(SSH_CIPHERS)).min(1).optional(),
    })
    .optional(),
  pg: z
    .strictObject({
      port: port.optional(),
      handshakeTimeout: duration.optional(),
      maxMessageBytes: z.number().int().min(64 * 1024).max(1 << 30).optional(),
      cleartextOverTls: z.boolean().optional(),
      upstreamTls: z
        .record(z.string().min(1).max(63), z.strictObject({ mode: z.enum(PG_TLS_MODES), ca: z.string().min(1).optional() }))
        .optional(),
    })
    .optional(),
  http: z
    .strictObject({
      port: port.optional(),
      domain: z.string().toLowerCase().regex(DNS_NAME, "must be a DNS name such as gw.example.com (targets are then TARGET.gw.example.com)").optional(),
      captureBodies: z.number().int().min(0).max(1 << 20).optional(),
      redactFields: z.array(z.string().min(1).max(100)).max(100).optional(),
      headersTimeout: duration.optional(),
      requestTimeout: duration.optional(),
      maxHeaderSize: z.number().int().min(1024).max(64 * 1024).optional(),
    })
    .optional(),
  database: z.strictObject({ url: url(["postgres", "postgresql"]) }).optional(),
  clickhouse: z
    .strictObject({
      url: url(["http", "https"]).optional(),
      database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "must be a ClickHouse database name: letters, digits and _").optional(),
      retention: duration.refine((ms) => ms >= 86_400_000, "must be at least 1d").optional(),
    })
    .optional(),
  nats: z.strictObject({ url: url(["nats", "tls"]) }).optional(),
  auth: z.strictObject({ sessionTtl: duration.optional() }).optional(),
  expiry: z.strictObject({ sweepInterval: duration.optional() }).optional(),
  log: z.strictObject({ level: z.enum(["info", "warn", "error"]).optional() }).optional(),
  vault: z.strictObject({ keyFile: z.string().min(1).optional(), rotationCheckInterval: duration.optional() }).optional(),
});

export interface GatewayConfig {
  dataDir: string;
  host: string;
  apiPort: number;
  sshPort: number;
  pgPort: number;
  httpPort: number;
  bodyLimit: number;
  databaseUrl: string | null;
  clickhouseUrl: string | null;
  /** The ClickHouse database of the recordings (embedded or served). */
  clickhouseDatabase: string;
  /** How long recordings are kept (whole days, a TTL on the tables). */
  recordingRetentionDays: number;
  natsUrl: string | null;
  sessionTtlMs: number;
  sweepIntervalMs: number;
  logLevel: "info" | "warn" | "error";
  /** The vault's key file, unless JITGATE_VAULT_PASSPHRASE is set. */
  vaultKeyFile: string;
  http: HttpEngineConfig;
  ssh: SshEngineConfig;
  pg: PgEngineConfig;
  /** How often scheduled rotations are looked for; null: min(60 s, half the shortest rotateEvery). */
  rotationCheckIntervalMs: number | null;
}

/** The HTTP engine's settings (`http:` in the config file). */
export interface HttpEngineConfig {
  /** Host-name routing: TARGET.<domain> reaches TARGET; null: path-prefix routing (/t/TARGET/) only. */
  domain: string | null;
  /** Bytes of each request and response body kept in the recording; 0 (the default) keeps none. */
  captureBodies: number;
  /** Form fields and JSON keys whose values are replaced by [redacted] in captured bodies. */
  redactFields: string[];
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxHeaderSize: number;
}

/** The PostgreSQL engine's settings (`pg:` in the config file). */
export interface PgEngineConfig {
  /** How long a client or target may stall during the handshake. */
  handshakeTimeoutMs: number;
  /** Largest message a client may send once connected. */
  maxMessageBytes: number;
  /** Ask TLS clients for the token in cleartext instead of SCRAM (for clients without SCRAM). */
  cleartextOverTls: boolean;
  /** TLS towards targets by target name, "*" for the rest; default prefer (TLS when offered, not verified). */
  upstreamTls: Record<string, { mode: PgTlsMode; caFile: string | null }>;
}

export type PgTlsMode = (typeof PG_TLS_MODES)[number];

/** The SSH engine's settings (`ssh:` in the config file). */
export interface SshEngineConfig {
  /** How long a client may take from connecting to being logged in. */
  handshakeTimeoutMs: number;
  /** How long before a grant's end interactive sessions are warned; 0 for no warning. */
  warnBeforeMs: number;
  /** Bounds connecting and logging in to a target. */
  upstreamTimeoutMs: number;
  /** Environment variables a client may pass on (exact names, or prefixes ending in *). */
  env: string[];
  /**
   * Ciphers offered to clients. AES-GCM only by default: OpenSSH prefers chacha20-poly1305
   * and AES-CTR when offered, and both relay at about half GCM's rate through ssh2.
   */
  ciphers: SshCipher[];
}

export type SshCipher = (typeof SSH_CIPHERS)[number];

export const DEFAULT_REDACT_FIELDS = ["password", "passwd", "pass", "secret", "token", "access_token", "refresh_token", "client_secret", "api_key", "apikey"];

export interface ConfigFlags {
  config?: string;
  data?: string;
  host?: string;
  apiPort?: number;
  sshPort?: number;
  pgPort?: number;
  httpPort?: number;
}

export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const file = flags.config ? parseYaml(readFileSync(flags.config, "utf8"), flags.config, fileSchema) : {};
  const dataDir = resolve(flags.data ?? file.dataDir ?? "data");
  return {
    dataDir,
    host: flags.host ?? file.host ?? "127.0.0.1",
    apiPort: flags.apiPort ?? file.api?.port ?? 8443,
    sshPort: flags.sshPort ?? file.ssh?.port ?? 2222,
    pgPort: flags.pgPort ?? file.pg?.port ?? 6432,
    httpPort: flags.httpPort ?? file.http?.port ?? 8444,
    bodyLimit: file.api?.bodyLimit ?? 64 * 1024,
    databaseUrl: file.database?.url ?? (env.JITGATE_DATABASE_URL || null),
    clickhouseUrl: file.clickhouse?.url ?? null,
    clickhouseDatabase: file.clickhouse?.database ?? "jitgate",
    recordingRetentionDays: Math.ceil((file.clickhouse?.retention ?? 365 * 86_400_000) / 86_400_000),
    natsUrl: file.nats?.url ?? null,
    sessionTtlMs: file.auth?.sessionTtl ?? 12 * 3600_000,
    sweepIntervalMs: file.expiry?.sweepInterval ?? 5_000,
    logLevel: file.log?.level ?? "info",
    vaultKeyFile: resolve(file.vault?.keyFile ?? join(dataDir, "vault.key")),
    rotationCheckIntervalMs: file.vault?.rotationCheckInterval ?? null,
    http: {
      domain: file.http?.domain ?? null,
      captureBodies: file.http?.captureBodies ?? 0,
      redactFields: file.http?.redactFields ?? DEFAULT_REDACT_FIELDS,
      headersTimeoutMs: file.http?.headersTimeout ?? 15_000,
      requestTimeoutMs: file.http?.requestTimeout ?? 300_000,
      maxHeaderSize: file.http?.maxHeaderSize ?? 16 * 1024,
    },
    ssh: {
      handshakeTimeoutMs: file.ssh?.handshakeTimeout ?? 10_000,
      warnBeforeMs: file.ssh?.warnBefore ?? 60_000,
      upstreamTimeoutMs: file.ssh?.upstreamTimeout ?? 10_000,
      env: file.ssh?.env ?? ["LANG", "LC_*", "TZ"],
      ciphers: file.ssh?.ciphers ?? ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"],
    },
    pg: {
      handshakeTimeoutMs: file.pg?.handshakeTimeout ?? 10_000,
      maxMessageBytes: file.pg?.maxMessageBytes ?? 256 << 20,
      cleartextOverTls: file.pg?.cleartextOverTls ?? false,
      upstreamTls: Object.fromEntries(Object.entries(file.pg?.upstreamTls ?? {}).map(([k, v]) => [k, { mode: v.mode, caFile: v.ca ? resolve(v.ca) : null }])),
    },
  };
}
