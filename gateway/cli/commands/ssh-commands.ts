// `jitgate ssh LOGIN@TARGET [-- COMMAND]` and `jitgate ssh-config`: a certificate for the
// person's key that ends with their grant, the gateway's host key pinned in a known_hosts
// file of the CLI's own, then the stock ssh (or plain ssh, scp and sftp through the blocks).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Grant } from "../../../policies/index.js";
import { enc, type Command, type CommandContext } from "../command.js";
import { enginePort } from "../engine-port.js";
import { CliError, UsageError } from "../errors.js";
import { jitgateHome, loadProfile } from "../profile.js";

const HOST_ALIAS = "jitgate-gateway";
const DEST = /^([A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?)@([a-z0-9][a-z0-9._-]{0,62})$/;

interface Endpoint { host: string; port: number; dir: string; knownHosts: string }

const sshOptions = { key: { type: "string" }, port: { type: "string" }, host: { type: "string" } } as const;

/** Where ssh reaches the gateway: --host/--port, else the API server's host and JITGATE_SSH_PORT or the port the gateway reports. */
async function endpoint(ctx: CommandContext): Promise<Endpoint> {
  const port = await enginePort(ctx, "ssh", "JITGATE_SSH_PORT", 2222);
  const host = (ctx.values.host as string | undefined) ?? new URL(loadProfile(ctx.env).server).hostname.replace(/^\[|\]$/g, "");
  const dir = join(jitgateHome(ctx.env), "ssh");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { publicKey } = await ctx.api<{ publicKey: string }>("GET", "/api/v1/ca/ssh-host");
  const knownHosts = join(dir, "known_hosts");
  // Pinned under an alias, so the gateway's key holds whatever address or port reaches it.
  writeFileSync(knownHosts, `${HOST_ALIAS} ${publicKey.trim()}\n`, { mode: 0o644 });
  return { host, port, dir, knownHosts };
}

/** The private key to certify: --key, ~/.ssh/id_ed25519, or one made under JITGATE_HOME. */
function identity(ctx: CommandContext, dir: string): string {
  const given = ctx.values.key as string | undefined;
  const home = ctx.env.HOME ?? homedir();
  const candidates = given !== undefined ? [resolve(given.replace(/^~(?=\/|$)/, home))] : [join(home, ".ssh", "id_ed25519"), join(dir, "id_ed25519")];
  for (const key of candidates) {
    if (existsSync(key) && existsSync(`${key}.pub`)) return key;
  }
  if (given !== undefined) throw new CliError("NO_SSH_KEY", `${given} and ${given}.pub must both exist: name a private key whose public half sits beside it`);
  const made = join(dir, "id_ed25519");
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "jitgate", "-f", made], { stdio: "ignore" });
  } catch {
    throw new CliError("NO_SSH_KEY", "no ~/.ssh/id_ed25519 and ssh-keygen could not make one: install openssh-client, or name a key with --key");
  }
  return made;
}

async function liveGrants(ctx: CommandContext): Promise<Grant[]> {
  const me = loadProfile(ctx.env).user;
  const grants = await ctx.api<Grant[]>("GET", "/api/v1/grants?active=true");
  return grants.filter((g) => g.user === me && g.state === "active" && g.targetKind === "ssh").sort((a, b) => Date.parse(b.notAfter) - Date.parse(a.notAfter));
}

/** Certifies the key for the grant and writes the certificate beside the CLI's known_hosts. */
async function certify(ctx: CommandContext, grant: Grant, key: string, dir: string): Promise<string> {
  const publicKey = readFileSync(`${key}.pub`, "utf8").trim();
  const r = await ctx.api<{ certificate: string }>("POST", `/api/v1/grants/${enc(grant.id)}/ssh-certificate`, { publicKey });
  const file = join(dir, `${grant.login}@${grant.target}-cert.pub`);
  writeFileSync(file, `${r.certificate}\n`, { mode: 0o644 });
  return file;
}

function sshArgs(ep: Endpoint, key: string, cert: string): string[] {
  return ["-p", String(ep.port), "-i", key, "-o", `CertificateFile=${cert}`, "-o", "IdentitiesOnly=yes", "-o", `HostKeyAlias=${HOST_ALIAS}`,
    "-o", `UserKnownHostsFile=${ep.knownHosts}`, "-o", "StrictHostKeyChecking=yes"];
}

export const sshCommands: Command[] = [
  {
    name: "ssh",
    usage: "jitgate ssh LOGIN@TARGET [--key ~/.ssh/id_ed25519] [--port 2222] [--host HOST] [-- COMMAND...]",
    summary: "connect with the stock ssh through the gateway, with a certificate valid until your grant ends",
    args: [1, 1000],
    options: sshOptions,
    async run(ctx) {
      const [dest = "", ...command] = ctx.positionals;
      const m = DEST.exec(dest);
      if (!m) throw new UsageError(`${JSON.stringify(dest)} must be LOGIN@TARGET, like root@web-1`);
      const [, login = "", target = ""] = m;
      const grant = (await liveGrants(ctx)).find((g) => g.target === target && g.login === login);
      if (!grant) throw new CliError("NO_ACTIVE_GRANT", `no active grant for ${login}@${target}: request one with: jitgate request ${target} --login ${login} --for 30m --reason "..."`);
      const ep = await endpoint(ctx);
      const key = identity(ctx, ep.dir);
      const cert = await certify(ctx, grant, key, ep.dir);
      const args = [...sshArgs(ep, key, cert), "-l", dest, ep.host, ...command];
      // The terminal's Ctrl-C is ssh's to pass on, not ours to die of.
      const ignore = () => undefined;
      process.on("SIGINT", ignore);
      try {
        return await new Promise<number>((res, rej) => {
          const child = spawn("ssh", args, { stdio: "inherit" });
          child.once("error", (err) => rej(new CliError("NO_SSH", `cannot run ssh (${err.message}): install openssh-client`)));
          child.once("exit", (code, signal) => res(code ?? (signal ? 128 + 1 : 255)));
        });
      } finally {
        process.off("SIGINT", ignore);
      }
    },
  },
  {
    name: "ssh-config",
    usage: "jitgate ssh-config [--key ~/.ssh/id_ed25519] [--port 2222] [--host HOST]",
    summary: "certify your key for each active SSH grant and print ssh_config Host blocks, so plain ssh, scp and sftp work",
    args: [0, 0],
    options: sshOptions,
    async run(ctx) {
      const ep = await endpoint(ctx);
      const key = identity(ctx, ep.dir);
      // Oldest first, so a target's plain alias stays with the grant that had it.
      const grants = (await liveGrants(ctx)).sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
      const blocks: string[] = [];
      const seen = new Set<string>();
      const hosts: { host: string; user: string; grantId: string; notAfter: string; certificate: string }[] = [];
      for (const g of grants) {
        const name = seen.has(g.target) ? `${g.target}-${g.login}` : g.target;
        if (seen.has(name)) continue;
        seen.add(name);
        const cert = await certify(ctx, g, key, ep.dir);
        hosts.push({ host: name, user: `${g.login}@${g.target}`, grantId: g.id, notAfter: g.notAfter, certificate: cert });
        blocks.push([
          `# grant ${g.id}, until ${g.notAfter}`,
          `Host ${name}`,
          `  HostName ${ep.host}`,
          `  Port ${ep.port}`,
          `  User ${g.login}@${g.target}`,
          `  IdentityFile ${key}`,
          `  CertificateFile ${cert}`,
          "  IdentitiesOnly yes",
          `  HostKeyAlias ${HOST_ALIAS}`,
          `  UserKnownHostsFile ${ep.knownHosts}`,
          "  StrictHostKeyChecking yes",
        ].join("\n"));
      }
      ctx.show({ hosts, knownHosts: ep.knownHosts }, () =>
        blocks.length === 0
          ? "# no active SSH grants: request one with: jitgate request TARGET --login LOGIN --for 30m --reason \"...\""
          : `# written by jitgate ssh-config: certificates end with their grants; run it again after a new grant\n${blocks.join("\n\n")}`,
      );
    },
  },
];
