// `jitgate vault rotate` end to end for Linux accounts: a gateway rotating passwords on a real
// sshd with password authentication, through a rotator account (rotateVia) and as the account
// itself, then proving the old password is dead. The accounts are not the library test's, so
// both files can run at once: the rotator is a uid-0 account of its own (sshd treats any uid 0
// as root), which leaves root's password alone.
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCaKeyPair } from "../vault/ssh-keys.js";
import { Person, startGateway, freePort, type GatewayProcess } from "./support/gateway.js";
import { startSshd, type PrivateSshd } from "./support/sshd.js";

const run = promisify(execFile);
const ROTATOR = "jgroteadm";
const PASSWORDS = { [ROTATOR]: "rotator-initial-password-e2e", jgrote: "jgrote-initial-password", jgroteself: "jgroteself-initial-password" };
let sshd: PrivateSshd;
let gw: GatewayProcess;
let madeRotator = false;
const admin = new Person("admin", "admin-password-0001");

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

beforeAll(async () => {
  const exists = (await readFile("/etc/passwd", "utf8")).split("\n").some((l) => l.startsWith(`${ROTATOR}:`));
  if (!exists) {
    await run("useradd", ["-o", "-u", "0", "-g", "0", "-M", "-d", "/root", "-s", "/bin/sh", ROTATOR]);
    madeRotator = true;
  }
  sshd = await startSshd({
    users: [ROTATOR, "jgrote", "jgroteself"],
    passwordAuth: true,
    passwords: PASSWORDS,
    extraConfig: [`Match User ${ROTATOR}`, "  PermitRootLogin yes"],
  });
  gw = await startGateway({ adminPassword: admin.password });
  expect((await admin.login(gw)).code).toBe(0);
  await admin.ok(["targets", "add", "web-1", "--kind", "ssh", "--address", `127.0.0.1:${sshd.port}`]);
  await admin.ok(["accounts", "add", "web-1", ROTATOR, "--auth", "password", "--secret-stdin"], { input: PASSWORDS[ROTATOR] });
  await admin.ok(["accounts", "add", "web-1", "jgrote", "--auth", "password", "--secret-stdin", "--option", `rotateVia=${ROTATOR}`, "--option", `hostKey=${sshd.hostKeyLine}`], {
    input: PASSWORDS.jgrote,
  });
  await admin.ok(["accounts", "add", "web-1", "jgroteself", "--auth", "password", "--secret-stdin"], { input: PASSWORDS.jgroteself });
});

afterAll(async () => {
  await gw?.stop();
  if (gw) rmSync(gw.dataDir, { recursive: true, force: true });
  await sshd?.stop();
  // uid 0 always has processes, so userdel needs -f.
  if (madeRotator) await run("userdel", ["-f", ROTATOR]);
  admin.cleanup();
});

interface History {
  rotations: { outcome: string; actor: string; reason: string; trigger: string; error: string | null }[];
  versions: { version: number; state: string }[];
}

describe("jitgate vault rotate (ssh)", () => {
  it("rotates through a rotator account: the old password is refused, the rotator still logs in", async () => {
    const r = await admin.ok<{ outcome: string; version: number }>(["vault", "rotate", "web-1/jgrote", "--reason", "quarterly"]);
    expect(r).toMatchObject({ outcome: "rotated", version: 2 });
    expect(await loginError("jgrote", PASSWORDS.jgrote)).toBe("client-authentication");
    expect(await loginError(ROTATOR, PASSWORDS[ROTATOR])).toBeNull();
    // Rotating again must log in with what the vault now holds.
    expect(await admin.ok<{ version: number }>(["vault", "rotate", "web-1/jgrote"])).toMatchObject({ version: 3 });
    const history = await admin.ok<History>(["vault", "history", "web-1/jgrote"]);
    expect(history.rotations.map((x) => [x.outcome, x.actor, x.reason])).toEqual([["rotated", "admin", "on demand"], ["rotated", "admin", "quarterly"]]);
    expect(history.versions.map((v) => [v.version, v.state])).toEqual([[1, "retired"], [2, "retired"], [3, "current"]]);
    expect(JSON.stringify(history)).not.toContain(PASSWORDS.jgrote);
  });

  it("rotates an account as itself", async () => {
    expect(await admin.ok<{ version: number }>(["vault", "rotate", "web-1/jgroteself"])).toMatchObject({ outcome: "rotated", version: 2 });
    expect(await loginError("jgroteself", PASSWORDS.jgroteself)).toBe("client-authentication");
    const history = await admin.ok<History>(["vault", "history", "web-1/jgroteself"]);
    expect(history.rotations.map((x) => x.outcome)).toEqual(["rotated"]);
  });

  it("refuses a host whose key is not the pinned one and keeps the old password current", async () => {
    const other = generateCaKeyPair().publicKeyLine;
    await admin.ok(["targets", "add", "web-2", "--kind", "ssh", "--address", `127.0.0.1:${sshd.port}`]);
    await admin.ok(["accounts", "add", "web-2", "jgroteself", "--auth", "password", "--secret-stdin", "--option", `hostKey=${other}`], { input: "whatever-password-1" });
    const e = await admin.fails(["vault", "rotate", "web-2/jgroteself"]);
    expect(e).toMatchObject({ exit: 1, code: "ROTATION_FAILED" });
    expect(e.message).toMatch(/host key SHA256:\S+ is not the expected one/);
    const history = await admin.ok<History>(["vault", "history", "web-2/jgroteself"]);
    expect(history.rotations.map((x) => x.outcome)).toEqual(["failed"]);
    expect(history.versions.map((v) => [v.version, v.state])).toEqual([[1, "current"], [2, "discarded"]]);
  });

  it("fails clearly against an unreachable target and keeps the old secret current", async () => {
    const port = await freePort();
    await admin.ok(["targets", "add", "web-gone", "--kind", "ssh", "--address", `127.0.0.1:${port}`]);
    await admin.ok(["accounts", "add", "web-gone", "jgrote", "--auth", "password", "--secret-stdin"], { input: "whatever-password-1" });
    await admin.ok(["accounts", "add", "web-gone", "nosecret", "--auth", "password"]);
    const e = await admin.fails(["vault", "rotate", "web-gone/jgrote"]);
    expect(e).toMatchObject({ exit: 1, code: "ROTATION_FAILED" });
    expect(e.message).toContain("web-gone");
    const history = await admin.ok<History>(["vault", "history", "web-gone/jgrote"]);
    expect(history.rotations.map((x) => x.outcome)).toEqual(["failed"]);
    expect(history.versions.find((v) => v.state === "current")?.version).toBe(1);
    // An account with no password in the vault has nothing to rotate.
    expect(await admin.fails(["vault", "rotate", "web-gone/nosecret"])).toMatchObject({ code: "ROTATION_UNSUPPORTED" });
    const audit = await admin.ok<{ data: { targetName: string; login: string; outcome: string } }[]>(["audit", "--type", "vault.rotated"]);
    expect(audit.map((a) => [a.data.targetName, a.data.login, a.data.outcome])).toEqual([
      ["web-1", "jgrote", "rotated"], ["web-1", "jgrote", "rotated"], ["web-1", "jgroteself", "rotated"],
      ["web-2", "jgroteself", "failed"], ["web-gone", "jgrote", "failed"],
    ]);
  });
});
