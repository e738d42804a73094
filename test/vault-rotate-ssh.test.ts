// Linux password rotation over SSH against a real sshd with password authentication: through
// root with chpasswd, as the account itself with passwd on a pty, every failure path, recovery
// after a crash between change and promote, and that no plaintext leaks.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { promisify } from "node:util";
import ssh2 from "ssh2";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { VaultError } from "../vault/errors.js";
import { SshRotator, type SshTarget } from "../vault/rotate-ssh.js";
import { generatePassword } from "../vault/scram.js";
import { generateCaKeyPair } from "../vault/ssh-keys.js";
import { startSshd, type PrivateSshd } from "./support/sshd.js";
import { FakeLog, FakeSecrets } from "./support/fake-rotation.js";

const run = promisify(execFile);

// Every history entry and error message of every test, checked for plaintexts at the end.
const written: string[] = [];

/** The error a rotation failed with; its message is kept for the leak check. */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    written.push(String((err as Error).message));
    return err;
  }
  throw new Error("expected a failure");
}

// Root logs in with a password only in this private sshd (a Match block overrides the
// helper's PermitRootLogin no); root's password field is put back afterwards.
const USERS = ["jgrot", "jgrotself", "jgrotnosudo"];
const ROOT_PASSWORD = generatePassword();
const INITIAL: Record<string, string> = Object.fromEntries(USERS.map((u) => [u, generatePassword()]));
let rootShadow: string | null = null;
let sshd: PrivateSshd;
let target: SshTarget;
let secrets: FakeSecrets;
let log: FakeLog;
let rotator: SshRotator;
const allPlaintexts: string[] = [ROOT_PASSWORD, ...Object.values(INITIAL)];

async function shadowField(user: string): Promise<string | null> {
  const line = (await readFile("/etc/shadow", "utf8")).split("\n").find((l) => l.startsWith(`${user}:`));
  return line === undefined ? null : (line.split(":")[1] ?? "");
}

/** null when user logs in with password and runs `true`, else the ssh2 error level (or message). */
function loginError(user: string, password: string): Promise<string | null> {
  return new Promise((resolve) => {
    const c = new ssh2.Client();
    const done = (v: string | null) => {
      c.end();
      resolve(v);
    };
    c.on("error", (e: Error & { level?: string }) => done(e.level ?? e.message));
    c.on("ready", () =>
      c.exec("true", (err, stream) => {
        if (err) return done(err.message);
        stream.on("exit", (code: number | null) => done(code === 0 ? null : `exit ${code}`));
        stream.resume();
        stream.end();
      }),
    );
    c.connect({ host: "127.0.0.1", port: sshd.port, username: user, password, readyTimeout: 5_000, tryKeyboard: false });
  });
}

const req = (login: string, extra: Partial<Parameters<SshRotator["rotate"]>[0]> = {}) => ({
  name: `web-1/${login}`,
  target,
  login,
  via: { login: "root", secretName: "web-1/root" },
  actor: "alice",
  reason: "quarterly",
  trigger: "on-demand" as const,
  ...extra,
});

const seenEver: string[] = [];
function noPlaintextIn(text: string): void {
  for (const p of [...allPlaintexts, ...seenEver]) expect(text).not.toContain(p);
}

beforeAll(async () => {
  rootShadow = await shadowField("root");
  sshd = await startSshd({
    users: ["root", ...USERS],
    passwordAuth: true,
    passwords: { root: ROOT_PASSWORD, ...INITIAL },
    extraConfig: ["Match User root", "  PermitRootLogin yes"],
  });
  target = { host: "127.0.0.1", port: sshd.port, hostKey: sshd.hostKeyLine };
});

afterAll(async () => {
  await sshd?.stop();
  if (rootShadow !== null) await run("usermod", ["-p", rootShadow, "root"]);
});

beforeEach(async () => {
  if (secrets) seenEver.push(...secrets.seen);
  secrets = new FakeSecrets();
  log = new FakeLog((entry) => written.push(JSON.stringify(entry)));
  rotator = new SshRotator({ secrets, log, timeoutMs: 5_000, execTimeoutMs: 10_000 });
  secrets.seed("web-1/root", ROOT_PASSWORD);
  // Each test starts from a password the test knows, whatever the previous test left.
  for (const user of USERS) {
    const value = generatePassword();
    allPlaintexts.push(value);
    await new Promise<void>((resolve, reject) => {
      const child = execFile("chpasswd", (err) => (err ? reject(err) : resolve()));
      child.stdin?.end(`${user}:${value}\n`);
    });
    INITIAL[user] = value;
    secrets.seed(`web-1/${user}`, value);
  }
});

describe("SshRotator", () => {
  it("rotates through root with chpasswd: the old password fails, the new one works", async () => {
    const old = INITIAL.jgrot ?? "";
    expect(await rotator.rotate(req("jgrot"))).toEqual({ version: 2 });
    expect(secrets.states("web-1/jgrot")).toEqual([[1, "retired"], [2, "current"]]);
    expect(await loginError("jgrot", old)).toBe("client-authentication");
    expect(await loginError("jgrot", secrets.value("web-1/jgrot", "current"))).toBeNull();
    expect(log.entries.map((e) => [e.name, e.outcome, e.trigger, e.actor, e.version, e.error])).toEqual([["web-1/jgrot", "rotated", "on-demand", "alice", 2, null]]);
    // Root's own password is untouched.
    expect(await loginError("root", ROOT_PASSWORD)).toBeNull();
  });

  it("rotates an account as itself with passwd on a pty", async () => {
    const old = INITIAL.jgrotself ?? "";
    expect(await rotator.rotate(req("jgrotself", { via: undefined }))).toEqual({ version: 2 });
    expect(await loginError("jgrotself", old)).toBe("client-authentication");
    expect(await loginError("jgrotself", secrets.value("web-1/jgrotself", "current"))).toBeNull();
    // Twice: the second rotation logs in with what the vault now holds.
    expect(await rotator.rotate(req("jgrotself", { via: undefined }))).toEqual({ version: 3 });
    expect(await loginError("jgrotself", secrets.value("web-1/jgrotself", "current"))).toBeNull();
  });

  it("fails promptly against an unreachable host and keeps the old password current", async () => {
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
    const port = (free.address() as { port: number }).port;
    await new Promise((r) => free.close(r));
    const started = Date.now();
    const err = await failure(rotator.rotate(req("jgrot", { target: { host: "127.0.0.1", port } })));
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(err).toBeInstanceOf(VaultError);
    expect(err).toMatchObject({ code: "ROTATION_FAILED", kind: "unavailable" });
    expect((err as Error).message).toMatch(/connect failed.*ECONNREFUSED.*discarded and the previous password stays current/);
    expect(secrets.states("web-1/jgrot")).toEqual([[1, "current"], [2, "discarded"]]);
    expect(log.entries.map((e) => e.outcome)).toEqual(["failed"]);
    expect(await loginError("jgrot", INITIAL.jgrot ?? "")).toBeNull();
  });

  it("gives up on a host that accepts but never speaks within the connect timeout", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    try {
      const quick = new SshRotator({ secrets, log, timeoutMs: 800 });
      const started = Date.now();
      const err = await failure(quick.rotate(req("jgrot", { target: { host: "127.0.0.1", port } })));
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(err).toMatchObject({ code: "ROTATION_FAILED", kind: "unavailable" });
      expect(secrets.states("web-1/jgrot")).toEqual([[1, "current"], [2, "discarded"]]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("refuses a host whose key is not the pinned one, before sending any password", async () => {
    const other = generateCaKeyPair().publicKeyLine;
    const since = sshd.log().length;
    const err = await failure(rotator.rotate(req("jgrot", { target: { ...target, hostKey: other } })));
    expect(err).toMatchObject({ code: "ROTATION_FAILED", kind: "forbidden" });
    expect((err as Error).message).toMatch(/host key SHA256:\S+ is not the expected one/);
    expect(secrets.states("web-1/jgrot")).toEqual([[1, "current"], [2, "discarded"]]);
    expect(sshd.log().slice(since)).not.toMatch(/Accepted password|Failed password/);
    expect(await loginError("jgrot", INITIAL.jgrot ?? "")).toBeNull();
  });

  it("a rotator without the right to run chpasswd changes nothing", async () => {
    // Not root and no sudoers rule (or no sudo at all): `sudo -n` refuses at once.
    const err = await failure(rotator.rotate(req("jgrot", { via: { login: "jgrotnosudo", secretName: "web-1/jgrotnosudo" } })));
    expect(err).toMatchObject({ code: "ROTATION_FAILED", kind: "forbidden" });
    expect((err as Error).message).toMatch(/change failed: chpasswd exited with \d+/);
    expect(secrets.states("web-1/jgrot")).toEqual([[1, "current"], [2, "discarded"]]);
    expect(await loginError("jgrot", INITIAL.jgrot ?? "")).toBeNull();
  });

  it("a vault password the account no longer has fails at connect and keeps the old version", async () => {
    secrets.seed("web-1/jgrotself", "not-the-password-anymore");
    const err = await failure(rotator.rotate(req("jgrotself", { via: undefined })));
    expect(err).toMatchObject({ code: "ROTATION_FAILED", kind: "forbidden" });
    expect((err as Error).message).toMatch(/connect failed: client-authentication/);
    expect(secrets.states("web-1/jgrotself")).toEqual([[1, "current"], [2, "discarded"]]);
  });

  it("a crash between change and promote keeps the new version pending, and recovery makes it current", async () => {
    const old = INITIAL.jgrot ?? "";
    secrets.failPromoteOnce = true;
    const err = await failure(rotator.rotate(req("jgrot")));
    expect(err).toMatchObject({ code: "ROTATION_FAILED" });
    expect((err as Error).message).toMatch(/promote failed: .*kept pending/);
    expect(secrets.states("web-1/jgrot")).toEqual([[1, "current"], [2, "pending"]]);
    // The target already has the pending password: the vault still holds one that logs in.
    expect(await loginError("jgrot", secrets.value("web-1/jgrot", "pending"))).toBeNull();
    expect(await rotator.recover({ name: "web-1/jgrot", target, login: "jgrot", actor: "system" })).toEqual({ outcome: "recovered", version: 2 });
    expect(secrets.states("web-1/jgrot")).toEqual([[1, "retired"], [2, "current"]]);
    expect(await loginError("jgrot", old)).toBe("client-authentication");
    expect(log.entries.map((e) => [e.trigger, e.outcome])).toEqual([["on-demand", "failed"], ["recovery", "recovered"]]);
    expect(await rotator.recover({ name: "web-1/jgrot", target, login: "jgrot", actor: "system" })).toEqual({ outcome: "clean" });
  });

  it("recovery discards a pending version the target never got, and rotate() settles it first", async () => {
    await secrets.putPending("web-1/jgrot", "password", Buffer.from(generatePassword()), "alice", "interrupted");
    expect(await rotator.rotate(req("jgrot"))).toEqual({ version: 3 });
    expect(secrets.states("web-1/jgrot")).toEqual([[1, "retired"], [2, "discarded"], [3, "current"]]);
    expect(log.entries.map((e) => [e.trigger, e.outcome])).toEqual([["recovery", "discarded"], ["on-demand", "rotated"]]);
    expect(await loginError("jgrot", secrets.value("web-1/jgrot", "current"))).toBeNull();
  });

  it("refuses bad input without touching the vault", async () => {
    await expect(rotator.rotate(req("bad:name"))).rejects.toMatchObject({ code: "ROTATION_INVALID_INPUT" });
    await expect(rotator.rotate(req("jgrot", { reason: " " }))).rejects.toMatchObject({ code: "ROTATION_INVALID_INPUT" });
    await expect(rotator.rotate(req("jgrot", { via: { login: "root", secretName: "web-1/jgrot" } }))).rejects.toMatchObject({ code: "ROTATION_INVALID_INPUT" });
    await expect(rotator.rotate(req("jgrot", { target: { ...target, hostKey: "not a key" } }))).rejects.toBeInstanceOf(VaultError);
    expect(secrets.states("web-1/jgrot")).toEqual([[1, "current"]]);
  });

  it("never lets a password reach a message, a history entry or the server log", () => {
    expect(written.length).toBeGreaterThan(10);
    for (const text of written) noPlaintextIn(text);
    noPlaintextIn(sshd.log());
  });
});
