// The connection toward the target: logs in with the account's credential (a short-lived
// certificate from the target CA, a vault password, also through keyboard-interactive, or a
// vault key) and checks the target's host key per the account's policy: `hostKey` pinned
// in the inventory (strict), or `hostKeyPolicy: tofu` which records the first key seen.
import ssh2 from "ssh2";
import type { LiveGrant } from "../../policies/index.js";
import { fingerprint, formatPublicKeyLine, parsePublicKeyLine } from "../../vault/index.js";
import type { EngineContext } from "../engine.js";
import { secretName } from "../vault/account-secrets.js";
import { SshEngineError } from "./errors.js";

/** The key pair the engine certifies for each upstream login to targets that trust the target CA. */
export interface UpstreamKey {
  privateKey: string;
  publicKeyLine: string;
}

export function makeUpstreamKey(): UpstreamKey {
  const pair = ssh2.utils.generateKeyPairSync("ed25519");
  return { privateKey: pair.private, publicKeyLine: pair.public };
}

type HostKeyCheck = { mode: "strict"; blobs: Buffer[] } | { mode: "tofu" };

function hostKeyPolicy(options: Record<string, unknown>, where: string): HostKeyCheck {
  const pinned = typeof options.hostKey === "string" ? options.hostKey.trim() : "";
  if (pinned) {
    const blobs: Buffer[] = [];
    for (const raw of pinned.split(/\r?\n/)) {
      const words = raw.trim().split(/\s+/);
      if (words[0] === "" || words[0]?.startsWith("#")) continue;
      // A known_hosts line starts with the host field.
      const line = words.length >= 3 && !/^(ssh-|ecdsa-)/.test(words[0] ?? "") ? words.slice(1).join(" ") : words.join(" ");
      try {
        blobs.push(parsePublicKeyLine(line).blob);
      } catch (cause) {
        throw new SshEngineError("SSH_UPSTREAM_HOST_KEY", `the hostKey option of ${where} is not a public key line: set it again with the target's key (ssh-keyscan)`, { cause });
      }
    }
    return { mode: "strict", blobs };
  }
  if (options.hostKeyPolicy === "tofu") return { mode: "tofu" };
  throw new SshEngineError(
    "SSH_UPSTREAM_HOST_KEY",
    `${where} has no pinned host key: an admin sets one with the account option hostKey="ssh-ed25519 AAAA..." (from ssh-keyscan), or hostKeyPolicy=tofu to trust the first key seen`,
  );
}

async function credential(ctx: EngineContext, grant: LiveGrant, sessionId: string, key: UpstreamKey): Promise<Partial<ssh2.ConnectConfig> & { certificate?: string }> {
  const where = `${grant.login}@${grant.targetName}`;
  if (grant.accountAuth === "certificate") {
    const cert = ctx.svc.authorities.sshTarget.upstreamCertificate({ publicKeyLine: key.publicKeyLine, login: grant.login, sessionId });
    return { privateKey: key.privateKey, certificate: cert.certificateLine };
  }
  if (grant.accountAuth !== "password" && grant.accountAuth !== "key") {
    throw new SshEngineError("SSH_UPSTREAM_CREDENTIAL", `${where} is an ${grant.accountAuth} account, which the SSH gateway cannot log in with: use password, key or certificate`);
  }
  let secret: Buffer;
  try {
    secret = await ctx.svc.secrets.current(secretName(grant.targetName, grant.login));
  } catch (cause) {
    throw new SshEngineError("SSH_UPSTREAM_CREDENTIAL", `the vault holds no ${grant.accountAuth} for ${where}: an admin sets it with: jitgate accounts set-secret ${grant.targetName} ${grant.login} --secret-stdin`, { cause });
  }
  const text = secret.toString("utf8");
  secret.fill(0);
  if (grant.accountAuth === "password") return { password: text, tryKeyboard: true };
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error) {
    throw new SshEngineError("SSH_UPSTREAM_CREDENTIAL", `the vault key for ${where} is not an unencrypted OpenSSH or PEM private key: store one made by ssh-keygen -N ""`);
  }
  return { privateKey: text };
}

export interface UpstreamOptions {
  sessionId: string;
  key: UpstreamKey;
  timeoutMs: number;
}

/** Connects and logs in to the grant's target; rejects with an SshEngineError saying why not. */
export async function connectUpstream(ctx: EngineContext, grant: LiveGrant, opts: UpstreamOptions): Promise<ssh2.Client> {
  const where = `${grant.login}@${grant.targetName}`;
  const account = await ctx.cp.inventory.getAccount(grant.targetName, grant.login);
  const check = hostKeyPolicy(account.options, where);
  const auth = await credential(ctx, grant, opts.sessionId, opts.key);
  let offered: Buffer | null = null;
  const client = await new Promise<ssh2.Client>((resolve, reject) => {
    const c = new ssh2.Client();
    let settled = false;
    const fail = (err: Error & { level?: string }) => {
      if (settled) return;
      settled = true;
      c.destroy();
      const address = `${grant.host}:${grant.port}`;
      if (err.level === "client-authentication") {
        reject(new SshEngineError("SSH_UPSTREAM_AUTH", `${grant.targetName} (${address}) refused the gateway's ${grant.accountAuth} login as ${grant.login}: an admin checks the account's credential`, { cause: err }));
      } else if (offered && check.mode === "strict" && /host denied|verification failed/i.test(err.message)) {
        reject(new SshEngineError("SSH_UPSTREAM_HOST_KEY", `${grant.targetName} (${address}) showed host key ${fingerprint(offered)}, which is not the one pinned for ${where}: the connection was not trusted`, { cause: err }));
      } else {
        reject(new SshEngineError("SSH_UPSTREAM_UNREACHABLE", `cannot reach ${grant.targetName} at ${address}: ${err.message}`, { cause: err }));
      }
    };
    c.on("error", fail);
    c.on("close", () => fail(new Error("the connection closed during login")));
    c.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => auth.password ?? "")));
    c.once("ready", () => {
      if (settled) return void c.end();
      settled = true;
      resolve(c);
    });
    c.connect({
      host: grant.host,
      port: grant.port,
      username: grant.login,
      readyTimeout: opts.timeoutMs,
      keepaliveInterval: 30_000,
      ...auth,
      hostVerifier: (blob: Buffer) => {
        offered = Buffer.from(blob);
        return check.mode === "tofu" || check.blobs.some((b) => b.equals(blob));
      },
    } as ssh2.ConnectConfig);
  });
  client.on("error", (err) => ctx.logger.warn("upstream ssh error", { target: grant.targetName, err: err.message }));
  if (check.mode === "tofu" && offered) {
    const line = formatPublicKeyLine({ blob: offered });
    if (await ctx.cp.inventory.recordHostKey(grant.targetName, grant.login, line)) {
      ctx.logger.info("target host key recorded on first use", { target: grant.targetName, login: grant.login, fingerprint: fingerprint(offered) });
    } else {
      // Another connection recorded one first: this one must match it.
      const again = hostKeyPolicy((await ctx.cp.inventory.getAccount(grant.targetName, grant.login)).options, where);
      if (again.mode === "strict" && !again.blobs.some((b) => b.equals(offered as Buffer))) {
        client.end();
        throw new SshEngineError("SSH_UPSTREAM_HOST_KEY", `${grant.targetName} showed host key ${fingerprint(offered)}, not the one recorded for ${where}: the connection was not trusted`);
      }
    }
  }
  return client;
}
