// The ssh2 1.17 defects the SSH engine depends on being fixed (patches/ssh2+1.17.0.patch),
// each shown with the stock OpenSSH client or a real sshd, so an upgrade that drops a
// patch fails here first.
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SshCertificateAuthority, verifyUserCertificate } from "../vault/index.js";
import { tempDir } from "./support/gateway.js";
import { startSshd, type PrivateSshd } from "./support/sshd.js";

const dir = tempDir("jg-ssh2fix");
const hostKey = ssh2.utils.generateKeyPairSync("ed25519");
const ca = SshCertificateAuthority.generate().ca;
const USER = "jgfixcert";

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the stock ssh (or another OpenSSH program) with a time limit. */
function runSsh(args: string[], input = "", program = "ssh", timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const sshArgs = (port: number, extra: string[] = []) => [
  "-p", String(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
  "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=none", ...extra,
];

type Connection = ssh2.Connection;

/** An ssh2 server on loopback; every client is handed to onClient once authenticated (method none). */
async function serve(onClient: (c: Connection) => void, auth?: (ctx: ssh2.AuthContext) => void): Promise<{ port: number; close(): Promise<void> }> {
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on("error", () => undefined);
    client.on("authentication", (ctx) => (auth ? auth(ctx) : ctx.method === "none" ? ctx.accept() : ctx.reject(["none"])));
    client.on("ready", () => onClient(client));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("ssh2 1.17 fixes", () => {
  let sshd: PrivateSshd;

  beforeAll(async () => {
    sshd = await startSshd({ users: [USER], trustedUserCaKeys: [ca.publicKeyLine()] });
  });

  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("client: logs in to sshd with a certificate (the signature names the plain key algorithm)", async () => {
    for (const type of ["ed25519", "ecdsa", "rsa"] as const) {
      const pair = type === "rsa" ? ssh2.utils.generateKeyPairSync("rsa", { bits: 2048 }) : type === "ecdsa" ? ssh2.utils.generateKeyPairSync("ecdsa", { bits: 256 }) : ssh2.utils.generateKeyPairSync("ed25519");
      const cert = ca.upstreamCertificate({ publicKeyLine: pair.public, login: USER, sessionId: `fix-${type}` });
      const out = await new Promise<string>((resolve, reject) => {
        const c = new ssh2.Client();
        c.on("error", (err) => reject(new Error(`${type}: ${err.message}; sshd said:\n${sshd.log().slice(-1500)}`)));
        c.on("ready", () =>
          c.exec("id -un", (err, stream) => {
            if (err) return reject(err);
            let text = "";
            stream.on("data", (d: Buffer) => (text += d.toString()));
            stream.on("close", () => {
              c.end();
              resolve(text.trim());
            });
          }),
        );
        c.connect({ host: "127.0.0.1", port: sshd.port, username: USER, privateKey: pair.private, certificate: cert.certificateLine, readyTimeout: 5_000 } as ssh2.ConnectConfig);
      });
      expect(out, type).toBe(USER);
    }
  });

  it("server: hands over certificate signatures unwrapped, so the certified key verifies them", async () => {
    const verified: string[] = [];
    const srv = await serve(
      (client) => client.on("session", (accept) => accept().on("exec", (acc) => {
        const s = acc();
        s.exit(0);
        s.end();
      })),
      (ctx) => {
        if (ctx.method !== "publickey" || !ctx.key.algo.endsWith("-cert-v01@openssh.com")) return ctx.reject(["publickey"]);
        const cert = verifyUserCertificate(ctx.key.data, { trustedCaBlobs: [ca.publicBlob], now: Date.now(), principal: "someone", clientAddress: "127.0.0.1" });
        if (!ctx.signature) return ctx.accept();
        const key = ssh2.utils.parseKey(cert.publicKey.blob) as ssh2.ParsedKey;
        if (key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true) {
          verified.push(ctx.key.algo);
          return ctx.accept();
        }
        ctx.reject();
      },
    );
    try {
      for (const type of ["ed25519", "ecdsa", "rsa"]) {
        const key = join(dir, `id_${type}`);
        await runSsh(["-q", "-t", type, "-N", "", "-f", key], "", "ssh-keygen");
        const pub = (await import("node:fs")).readFileSync(`${key}.pub`, "utf8");
        const cert = ca.userCertificate({ publicKeyLine: pub, user: "someone", grantId: "g1", principals: ["someone"], notAfter: Date.now() + 60_000 });
        writeFileSync(`${key}-cert.pub`, `${cert.certificateLine}\n`);
        const r = await runSsh([...sshArgs(srv.port, ["-o", `IdentityFile=${key}`, "-o", `CertificateFile=${key}-cert.pub`]), "x@127.0.0.1", "true"]);
        expect(r.code, `${type}: ${r.stderr}`).toBe(0);
      }
      expect(verified).toEqual(["ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com", "rsa-sha2-512-cert-v01@openssh.com"]);
    } finally {
      await srv.close();
    }
  });

  it("server: server-sig-algs lists rsa-sha2-512 as its own algorithm", async () => {
    const srv = await serve((client) => client.on("session", (accept) => accept().on("exec", (acc) => {
      const s = acc();
      s.exit(0);
      s.end();
    })));
    try {
      const r = await runSsh([...sshArgs(srv.port, ["-vvv"]), "x@127.0.0.1", "true"]);
      const algs = /server-sig-algs=<([^>]*)>/.exec(r.stderr)?.[1]?.split(",") ?? [];
      expect(algs).toContain("ecdsa-sha2-nistp521");
      expect(algs).toContain("rsa-sha2-512");
    } finally {
      await srv.close();
    }
  });

  it("server: pty terminal modes arrive as sent, including ones ssh2 has no name for", async () => {
    let modes: Record<string, number> | undefined;
    const srv = await serve((client) => client.on("session", (accept) => {
      const session = accept();
      session.on("pty", (acc, _rej, info) => {
        modes = info.modes as Record<string, number>;
        acc?.();
      });
      session.on("shell", (acc) => {
        const s = acc();
        s.write("ready\r\n");
        s.exit(0);
        s.end();
      });
    }));
    try {
      // `script` gives ssh a terminal whose modes it then sends.
      const cmd = ["ssh", ...sshArgs(srv.port, ["-tt"]), "x@127.0.0.1"].join(" ");
      const r = await runSsh(["-qec", cmd, "/dev/null"], "", "script");
      expect(r.stdout).toContain("ready");
      expect(modes?.VINTR).toBe(3);
      expect(modes?.VERASE).toBe(127);
      expect(modes?.ICANON).toBe(1);
      expect(modes).toHaveProperty("IUTF8");
    } finally {
      await srv.close();
    }
  });

  it("server: an exec accepted after an await still gets the input and EOF the client sent before", async () => {
    const srv = await serve((client) => client.on("session", (accept) => accept().on("exec", async (acc) => {
      await new Promise((r) => setTimeout(r, 200));
      const s = acc();
      let n = 0;
      s.on("data", (d: Buffer) => (n += d.length));
      s.on("end", () => {
        s.write(`got ${n} bytes\n`);
        s.exit(0);
        s.end();
      });
    })));
    try {
      const r = await runSsh([...sshArgs(srv.port), "x@127.0.0.1", "cat"], "hello\n");
      expect(r.stdout).toBe("got 6 bytes\n");
      expect(r.code).toBe(0);
    } finally {
      await srv.close();
    }
  });

  it("server: exit-signal passes on signal names ssh2 does not list", async () => {
    let thrown: unknown = null;
    const srv = await serve((client) => client.on("session", (accept) => accept().on("exec", (acc) => {
      const s = acc();
      try {
        s.exit("XCPU", false, "");
      } catch (err) {
        thrown = err;
        s.exit(1);
      }
      s.end();
    })));
    try {
      const signal = await new Promise<unknown>((resolve, reject) => {
        const c = new ssh2.Client();
        c.on("error", reject);
        c.on("ready", () => c.exec("x", (err, stream) => {
          if (err) return reject(err);
          stream.on("exit", (_code: unknown, sig: unknown) => {
            c.end();
            resolve(sig);
          });
          stream.resume();
        }));
        c.connect({ host: "127.0.0.1", port: srv.port, username: "x", readyTimeout: 5_000 });
      });
      expect(thrown).toBeNull();
      expect(signal).toBe("SIGXCPU");
    } finally {
      await srv.close();
    }
  });

  it("server: a disconnect carries its description to the client", async () => {
    const srv = await serve((client) => client.on("session", (accept) => accept().on("exec", () => {
      (client.end as (description?: string) => void)("jitgate: grant g-1 revoked - session closed");
    })));
    try {
      const r = await runSsh([...sshArgs(srv.port), "x@127.0.0.1", "sleep 10"]);
      expect(r.stderr).toContain("jitgate: grant g-1 revoked - session closed");
    } finally {
      await srv.close();
    }
  });
});
