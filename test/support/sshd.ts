// A private OpenSSH server for tests: Debian's /usr/sbin/sshd on a free loopback port, with
// its own host key, configuration and pid file in a temp dir, logging to a buffer the test
// can search. Needs root: it creates the test accounts and sshd drops privileges per login.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const SSHD = "/usr/sbin/sshd";
// sshd refuses to start without its privilege separation directory, which systemd creates.
const PRIVSEP_DIR = "/run/sshd";
const START_TIMEOUT_MS = 10_000;

export interface SshdOptions {
  /** Public key lines of CAs whose user certificates sshd accepts (TrustedUserCAKeys). */
  trustedUserCaKeys?: string[];
  /** Local accounts that must exist; created (`useradd -m`) when missing. */
  users: string[];
  /** PasswordAuthentication; off unless asked. */
  passwordAuth?: boolean;
  /** Passwords to set for some of `users`; others get a random one if their account is locked. */
  passwords?: Record<string, string>;
  /** AuthorizedKeysFile pattern (sshd_config tokens such as %h allowed); `none` unless given. */
  authorizedKeysFile?: string;
  /** More sshd_config lines, appended last. */
  extraConfig?: string[];
}

export interface PrivateSshd {
  port: number;
  /** The server's host public key (`ssh-ed25519 AAAA…`). */
  hostKeyLine: string;
  /** A known_hosts line pinning the host key for `[127.0.0.1]:port`. */
  knownHostsLine: string;
  /** Passwords this call set, by user. */
  passwords: Record<string, string>;
  /** Everything sshd has logged so far (LogLevel VERBOSE). */
  log(): string;
  /** Resolves with the log text after `since` (an offset into log()) once it matches `pattern`. */
  waitForLog(pattern: RegExp, since?: number, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(1_000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    // The version banner proves sshd itself answered, not just a socket in the kernel.
    socket.once("data", (chunk) => done(chunk.toString("latin1").startsWith("SSH-")));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function shadowField(user: string): Promise<string | null> {
  const shadow = await readFile("/etc/shadow", "utf8");
  const line = shadow.split("\n").find((l) => l.startsWith(`${user}:`));
  return line === undefined ? null : (line.split(":")[1] ?? "");
}

/** Creates missing accounts; with UsePAM no, a `!` password field locks even key logins. */
async function prepareUsers(users: string[], wanted: Record<string, string>): Promise<Record<string, string>> {
  const set: Record<string, string> = {};
  for (const user of users) {
    if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(user)) throw new Error(`test user name "${user}" is not a plain Linux user name`);
    if ((await shadowField(user)) === null) {
      try {
        await run("useradd", ["-m", "-s", "/bin/sh", user]);
      } catch (err) {
        // Exit 9: another test file created it a moment ago.
        if ((err as { code?: unknown }).code !== 9) throw err;
      }
    }
    const field = await shadowField(user);
    const password = wanted[user] ?? (field === null || field.startsWith("!") ? randomBytes(18).toString("base64url") : undefined);
    if (password !== undefined) {
      await new Promise<void>((resolve, reject) => {
        const child = spawn("chpasswd", [], { stdio: ["pipe", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.once("error", reject);
        child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`chpasswd for ${user} failed (${code}): ${stderr}`))));
        child.stdin.end(`${user}:${password}\n`);
      });
      set[user] = password;
    }
  }
  return set;
}

function configText(dir: string, port: number, opts: SshdOptions, extra: string[]): string {
  return [
    `ListenAddress 127.0.0.1`,
    `Port ${port}`,
    `HostKey ${join(dir, "ssh_host_ed25519_key")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `LogLevel VERBOSE`,
    `UsePAM no`,
    // StrictModes refuses key files under world-writable /tmp, where a test may put authorized keys.
    `StrictModes no`,
    `PermitRootLogin no`,
    `PubkeyAuthentication yes`,
    `PasswordAuthentication ${opts.passwordAuth ? "yes" : "no"}`,
    `KbdInteractiveAuthentication no`,
    `AuthorizedKeysFile ${opts.authorizedKeysFile ?? "none"}`,
    `AuthorizedPrincipalsFile none`,
    ...(opts.trustedUserCaKeys?.length ? [`TrustedUserCAKeys ${join(dir, "ca.pub")}`] : []),
    `X11Forwarding no`,
    `PrintMotd no`,
    `PrintLastLog no`,
    `LoginGraceTime 30`,
    `Subsystem sftp /usr/lib/openssh/sftp-server`,
    ...extra,
    ...(opts.extraConfig ?? []),
    "",
  ].join("\n");
}

const running = new Set<() => void>();
process.once("exit", () => {
  for (const stopNow of running) stopNow();
});

/** Starts a private sshd on 127.0.0.1; stop() kills it and removes its temp dir. */
export async function startSshd(opts: SshdOptions): Promise<PrivateSshd> {
  if (!existsSync(SSHD)) {
    throw new Error(`no ${SSHD}: install the \`openssh-server\` package (apt-get install -y openssh-server)`);
  }
  if (process.getuid?.() !== 0) throw new Error("a private sshd for tests needs root (it creates accounts and logs them in)");
  const passwords = await prepareUsers(opts.users, opts.passwords ?? {});
  await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });

  const dir = await mkdtemp(join(tmpdir(), "jitgate-sshd-"));
  let child: ChildProcess | null = null;
  const stopNow = () => {
    child?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  running.add(stopNow);
  let log = "";
  let port: number;
  try {
    const hostKey = join(dir, "ssh_host_ed25519_key");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "jitgate-test-sshd", "-f", hostKey]);
    if (opts.trustedUserCaKeys?.length) await writeFile(join(dir, "ca.pub"), opts.trustedUserCaKeys.map((l) => `${l.trim()}\n`).join(""));
    const config = join(dir, "sshd_config");

    // Newer OpenSSH (9.8+) penalises sources that fail to log in; the refusal tests do that on purpose.
    let extra = ["PerSourcePenalties no"];
    await writeFile(config, configText(dir, 22, opts, extra));
    const check = await run(SSHD, ["-t", "-f", config]).then(() => "", (err: { stderr?: string }) => err.stderr ?? String(err));
    if (/PerSourcePenalties/.test(check)) extra = [];
    else if (check) throw new Error(`sshd rejected its configuration:\n${check}`);

    // A free port can be taken between the probe and the bind: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      await writeFile(config, configText(dir, port, opts, extra));
      log = "";
      const proc = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
      child = proc;
      proc.stderr?.on("data", (d: Buffer) => (log += d.toString()));
      let exited: string | null = null;
      proc.once("exit", (code, signal) => (exited = `exit ${code ?? signal}`));
      proc.once("error", (err) => (exited = err.message));
      const deadline = Date.now() + START_TIMEOUT_MS;
      let ready = false;
      while (!ready && exited === null && Date.now() < deadline) {
        ready = await accepts(port);
        if (!ready) await sleep(50);
      }
      if (ready) break;
      proc.kill("SIGKILL");
      if (attempt >= 3 || !/Bind to port|Cannot bind/.test(log)) {
        throw new Error(`private sshd did not start (${exited ?? "no answer"}):\n${log.slice(-2000)}`);
      }
    }
    const hostKeyLine = (await readFile(`${hostKey}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
    const proc = child;
    let stopped = false;
    return {
      port,
      hostKeyLine,
      knownHostsLine: `[127.0.0.1]:${port} ${hostKeyLine}`,
      passwords,
      log: () => log,
      async waitForLog(pattern, since = 0, timeoutMs = 5_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const text = log.slice(since);
          if (pattern.test(text)) return text;
          if (Date.now() > deadline) throw new Error(`sshd never logged ${pattern}; it logged:\n${text.slice(-2000)}`);
          await sleep(20);
        }
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        running.delete(stopNow);
        if (proc && proc.exitCode === null && proc.signalCode === null) {
          const gone = new Promise((r) => proc.once("exit", r));
          proc.kill("SIGTERM");
          await Promise.race([gone, sleep(3_000)]);
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    running.delete(stopNow);
    stopNow();
    throw err;
  }
}
