// Two-phase password rotation for Linux accounts over SSH: the new password is stored as
// pending before the target changes, so at every instant the vault holds a password that logs in.
// Through a rotator account the change is `chpasswd` (or `sudo -n chpasswd` for a non-root
// rotator) fed `login:password` on its standard input; as the account itself it is `passwd`
// answered through a pty. A password never appears on a command line.
import ssh2 from "ssh2";
import type { VaultErrorKind } from "./errors.js";
import type { VaultClock } from "./ports.js";
import { explainKnown, invalidRotation, redact, RotationBook, StepFailure, type Applied, type Attempt, type RecoveryResult, type RotationTarget } from "./rotation-book.js";
import type { RotationLog, RotationSecrets, RotationTrigger } from "./rotation-port.js";
import { fingerprint, parsePublicKeyLine } from "./ssh-keys.js";

export interface SshTarget {
  host: string;
  port: number;
  /** The expected host key line (`ssh-ed25519 AAAA…`, a comment or a known_hosts host field allowed); any other key is refused. */
  hostKey?: string;
}

export interface SshRotation {
  /** The secret's name in the vault, e.g. "web-1/deploy". */
  name: string;
  target: SshTarget;
  /** The Linux account whose password changes. */
  login: string;
  /** A rotator account (root, or one allowed `sudo -n /usr/sbin/chpasswd`); without it the account changes its own password with `passwd`. */
  via?: { login: string; secretName: string };
  actor: string;
  reason: string;
  trigger: Exclude<RotationTrigger, "recovery">;
}

export interface SshRecovery {
  name: string;
  target: SshTarget;
  login: string;
  actor: string;
  reason?: string;
}

export type SshRecoveryResult = RecoveryResult;

export interface SshRotatorDeps {
  secrets: RotationSecrets;
  log: RotationLog;
  clock?: VaultClock;
  /** Bounds connecting and authenticating (default 5 s), so an unreachable target fails promptly. */
  timeoutMs?: number;
  /** Bounds each remote command (default 10 s). */
  execTimeoutMs?: number;
}


// Runs chpasswd directly for uid 0 (root needs no sudo, and minimal hosts have none), else
// through `sudo -n` so a missing sudoers rule fails at once instead of asking for a password.
// Wrapped in /bin/sh so the rotator's login shell does not matter.
export const CHPASSWD_COMMAND = `/bin/sh -c 'if [ "$(id -u)" = 0 ]; then exec /usr/sbin/chpasswd; else exec sudo -n /usr/sbin/chpasswd; fi'`;
// `env` works from any login shell; the C locale makes the prompts predictable.
export const PASSWD_COMMAND = "env LC_ALL=C LANG=C passwd";
const LINUX_LOGIN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;

export function describeSshTarget(t: SshTarget): string {
  return t.host.includes(":") ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/**
 * Rotates Linux account passwords over SSH through the vault.
 *
 * Rotations of one name run one at a time within this process; a cross-node lock around
 * rotate() and recover() belongs to the caller, as for PostgresRotator.
 */
export class SshRotator {
  readonly #timeoutMs: number;
  readonly #execTimeoutMs: number;
  readonly #book: RotationBook;

  constructor(deps: SshRotatorDeps) {
    this.#book = new RotationBook(deps.secrets, deps.log, deps.clock ?? { now: () => Date.now() }, explain);
    this.#timeoutMs = deps.timeoutMs ?? 5_000;
    this.#execTimeoutMs = deps.execTimeoutMs ?? 10_000;
  }

  /** Settles any interrupted rotation of req.name first, then rotates; the new version number on success. */
  async rotate(req: SshRotation): Promise<{ version: number }> {
    checkRequest(req);
    const { target, login, via } = req;
    if (via && !LINUX_LOGIN.test(via.login)) throw invalidRotation("a rotator account's login is not a Linux user name");
    const as = via ?? { login, secretName: req.name };
    return this.#book.rotate(req, {
      ...this.#target(req),
      how: via ? `through ${via.login}` : "as itself",
      change: async (password, run) => {
        run.step("credentials");
        const asPassword = await this.#read(as.secretName);
        run.hide(asPassword);
        run.step("connect");
        const conn = await connectSsh(target, as.login, asPassword, this.#timeoutMs);
        try {
          run.step("change");
          if (via) await this.#chpasswd(conn, login, password, run.applied);
          else await this.#passwd(conn, asPassword, password, run.applied);
        } finally {
          conn.end();
        }
      },
    });
  }

  /** Settles a pending version left by an interrupted rotation: whichever password logs in is current. */
  async recover(req: SshRecovery): Promise<SshRecoveryResult> {
    checkRequest(req);
    return this.#book.recover(req, this.#target(req));
  }

  #target(req: SshRecovery): RotationTarget {
    return { account: `account ${req.login} on ${describeSshTarget(req.target)}`, attempt: (password) => this.#attempt(req.target, req.login, password) };
  }

  /** chpasswd reads `login:password` lines; exit 0 means every line was applied. */
  async #chpasswd(conn: ssh2.Client, login: string, password: string, applied: Applied): Promise<void> {
    const result = await runCommand(conn, CHPASSWD_COMMAND, this.#execTimeoutMs, {
      onOpen: (stream) => {
        applied.state = "unknown";
        stream.end(`${login}:${password}\n`);
      },
    });
    if (result.code === 0) {
      applied.state = "yes";
      return;
    }
    // A status from chpasswd (or sudo refusing) is a verdict: nothing changed.
    if (result.code !== null) applied.state = "no";
    throw new StepFailure(result.code === null ? "unavailable" : "forbidden", `chpasswd ${result.code === null ? "gave no exit status" : `exited with ${result.code}`}${said(result.output)}`);
  }

  /** passwd through a pty: answers the current, new and retype prompts as they appear. */
  async #passwd(conn: ssh2.Client, current: string, password: string, applied: Applied): Promise<void> {
    let failure: string | null = null;
    const answered = { current: 0, fresh: 0, retype: 0 };
    // Output before this offset was answered already; only a prompt after it is new.
    let seen = 0;
    const result = await runCommand(conn, PASSWD_COMMAND, this.#execTimeoutMs, {
      pty: true,
      onData: (stream, text) => {
        const fresh = text.slice(seen);
        let answer: string | null = null;
        if (/(retype|re-enter|again)[^\n:]*password: *$/i.test(fresh)) {
          if (answered.retype++ > 0) failure = "the new password was refused";
          else {
            applied.state = "unknown";
            answer = password;
          }
        } else if (/(current|old)[^\n:]*password: *$/i.test(fresh)) {
          if (answered.current++ > 0) failure = "the current password was refused";
          else answer = current;
        } else if (/new[^\n:]*password: *$/i.test(fresh)) {
          if (answered.fresh++ > 0) failure = "the new password was refused";
          else answer = password;
        } else return;
        seen = text.length;
        if (answer !== null) stream.write(`${answer}\n`);
        else stream.close();
      },
    });
    if (failure === null && result.code === 0 && answered.retype === 1) {
      applied.state = "yes";
      return;
    }
    if (failure !== null || result.code !== null) applied.state = "no";
    const why = failure ?? (result.code === null ? "passwd gave no exit status" : `passwd exited with ${result.code}`);
    throw new StepFailure(result.code === null && failure === null ? "unavailable" : "forbidden", `${why}${said(result.output)}`);
  }

  #read(secretName: string): Promise<string> {
    return this.#book.read(secretName);
  }

  /** A fresh connection as login with password, running `true`. */
  async #attempt(target: SshTarget, login: string, password: string): Promise<Attempt> {
    try {
      const conn = await connectSsh(target, login, password, this.#timeoutMs);
      try {
        const result = await runCommand(conn, "true", this.#execTimeoutMs, {});
        if (result.code !== 0) throw new StepFailure("unavailable", `logged in, but \`true\` ${result.code === null ? "gave no exit status" : `exited with ${result.code}`}`);
      } finally {
        conn.end();
      }
      return { ok: true, refused: false, kind: "unavailable", detail: "" };
    } catch (err) {
      const { kind, detail } = explain(err, [password]);
      return { ok: false, refused: (err as { level?: unknown }).level === "client-authentication", kind, detail };
    }
  }

}

/** The key blobs a host key line (or several, one per line) allows. */
function expectedHostKeys(text: string): { blobs: Buffer[]; types: string[] } {
  const blobs: Buffer[] = [];
  const types = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const words = line.split(/\s+/);
    // A known_hosts line starts with the host field.
    if (words.length >= 3 && !/^(ssh-|ecdsa-)/.test(words[0] ?? "")) line = words.slice(1).join(" ");
    const key = parsePublicKeyLine(line);
    blobs.push(key.blob);
    if (key.type === "ssh-rsa") ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"].forEach((t) => types.add(t));
    else types.add(key.type);
  }
  if (blobs.length === 0) throw invalidRotation("the target's host key is empty");
  return { blobs, types: [...types] };
}

/**
 * Connects and authenticates with a password, bounded by timeoutMs. Rejects with the ssh2
 * error (its `level` tells a refused password from an unreachable host); a later error on
 * the connection never ends the process.
 */
export function connectSsh(target: SshTarget, username: string, password: string, timeoutMs: number): Promise<ssh2.Client> {
  const pinned = target.hostKey === undefined ? null : expectedHostKeys(target.hostKey);
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    let offered: Buffer | null = null;
    const timer = setTimeout(() => fail(Object.assign(new Error(`no SSH session within ${timeoutMs} ms`), { level: "client-timeout" })), timeoutMs);
    timer.unref();
    const fail = (err: Error & { level?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end();
      client.destroy();
      if (pinned && offered && err.message.includes("Host denied")) {
        reject(Object.assign(new Error(`the host key ${fingerprint(offered)} is not the expected one`), { level: "client-hostkey" }));
      } else reject(err);
    };
    client.on("error", fail);
    client.on("close", () => fail(new Error("the connection closed before the session was ready")));
    client.once("ready", () => {
      if (settled) return void client.end();
      settled = true;
      clearTimeout(timer);
      resolve(client);
    });
    try {
      client.connect({
        host: target.host,
        port: target.port,
        username,
        password,
        tryKeyboard: false,
        readyTimeout: timeoutMs,
        ...(pinned
          ? {
              algorithms: { serverHostKey: pinned.types as ssh2.ServerHostKeyAlgorithm[] },
              hostVerifier: (key: Buffer) => {
                offered = Buffer.from(key);
                return pinned.blobs.some((b) => b.equals(key));
              },
            }
          : {}),
      });
    } catch (err) {
      fail(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

interface CommandResult {
  /** The exit status, or null when none came (killed by a signal, connection lost, timed out). */
  code: number | null;
  output: string;
}

interface CommandHooks {
  pty?: boolean;
  onOpen?: (stream: ssh2.ClientChannel) => void;
  /** Called with all output so far (carriage returns dropped) after each chunk. */
  onData?: (stream: ssh2.ClientChannel, text: string) => void;
}

/** Runs command on conn, bounded by timeoutMs; never rejects once the channel opened. */
function runCommand(conn: ssh2.Client, command: string, timeoutMs: number, hooks: CommandHooks): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    let output = "";
    let code: number | null = null;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, output });
    };
    const timer = setTimeout(() => {
      if (done) return;
      output += `\n(no answer within ${timeoutMs} ms)`;
      // A server that stopped answering would not answer a polite close either.
      conn.destroy();
      finish();
    }, timeoutMs);
    timer.unref();
    // A connection that dies mid-command ends the wait with no exit status.
    conn.once("close", finish);
    conn.exec(command, hooks.pty ? { pty: { term: "dumb", rows: 24, cols: 200, width: 0, height: 0 } } : {}, (err, stream) => {
      if (err) {
        done = true;
        clearTimeout(timer);
        reject(err);
        return;
      }
      const take = (d: Buffer) => {
        output += d.toString("utf8");
        if (output.length > 16_384) output = output.slice(-16_384);
        hooks.onData?.(stream, output.replace(/\r/g, ""));
      };
      stream.on("data", take);
      stream.stderr.on("data", take);
      stream.on("error", () => undefined);
      stream.on("exit", (status: number | null) => {
        code = typeof status === "number" ? status : null;
      });
      stream.on("close", finish);
      hooks.onOpen?.(stream);
      if (!hooks.onOpen && !hooks.pty) stream.end();
    });
  });
}

function said(output: string): string {
  const text = output.replace(/\r/g, "").replace(/\s+/g, " ").trim();
  return text ? `: ${text.slice(-300)}` : "";
}

function checkRequest(req: { name: string; target: SshTarget; login: string; actor: string }): void {
  if (typeof req.name !== "string" || req.name.length === 0) throw invalidRotation("a rotation needs the secret's name");
  if (typeof req.login !== "string" || !LINUX_LOGIN.test(req.login)) throw invalidRotation("a Linux account name is 1 to 32 letters, digits, '.', '_' or '-'");
  const t = req.target;
  if (!t || typeof t.host !== "string" || t.host.length === 0) throw invalidRotation("an SSH target needs a host");
  if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) throw invalidRotation("an SSH target's port is 1 to 65535");
  if (t.hostKey !== undefined) {
    if (typeof t.hostKey !== "string") throw invalidRotation("an SSH target's host key is a public key line");
    expectedHostKeys(t.hostKey);
  }
  if (typeof req.actor !== "string" || req.actor.trim().length === 0) throw invalidRotation("a rotation needs an actor");
}

function explain(err: unknown, hidden: readonly string[]): { kind: VaultErrorKind; detail: string } {
  const known = explainKnown(err, hidden);
  if (known) return known;
  const e = err as { level?: unknown; message?: unknown };
  const level = typeof e?.level === "string" ? e.level : undefined;
  const message = typeof e?.message === "string" && e.message.length > 0 ? e.message : String(err);
  const kind: VaultErrorKind = level === "client-authentication" || level === "client-hostkey" ? "forbidden" : "unavailable";
  return { kind, detail: redact(level ? `${level}: ${message}` : message, hidden) };
}
