// The vault as the gateway runs it: the key file made at first start, the certificate
// authorities kept in the vault (never in the clear on disk), and a locked vault refusing
// to start rather than half-opening.
import { execFileSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:tls";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Person, freePort, startGateway, tempDir } from "./support/gateway.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const fresh = () => {
  const d = tempDir("jg-vault");
  dirs.push(d);
  return d;
};

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}

function peerCertificate(url: string, ca: string): Promise<{ subject: string; issuer: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), ca, servername: "localhost" }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve({ subject: String(c.subject.CN ?? ""), issuer: String(c.issuer.CN ?? "") });
    });
    s.on("error", reject);
  });
}

describe("vault in the gateway", () => {
  it("makes its key file at first start, keeps its CAs in the vault, and serves TLS from its own root", async () => {
    const dir = fresh();
    const dataDir = join(dir, "data");
    const port = await freePort();
    let gw = await startGateway({ dataDir, adminPassword: "admin-password-0001", apiPort: port, pristine: true });
    const admin = new Person("admin", "admin-password-0001");
    try {
      expect(statSync(join(dataDir, "vault.key")).mode & 0o777).toBe(0o600);
      const caPem = readFileSync(gw.caPath, "utf8");
      const peer = await peerCertificate(gw.url, caPem);
      expect(peer.issuer).toBe("jitgate certificate authority");
      expect(peer.subject).not.toBe(peer.issuer);
      expect((await admin.login(gw)).code).toBe(0);
      const tls = await admin.run(["ca", "export", "--tls"]);
      expect(tls.stdout.trim()).toBe(caPem.trim());
      const target = await admin.ok<{ publicKey: string; sshdConfig: string[] }>(["ca", "export", "--ssh-target"]);
      expect(target.sshdConfig).toContain("TrustedUserCAKeys /etc/ssh/jitgate_target_ca.pub");
      const keyFile = join(dir, "target_ca.pub");
      writeFileSync(keyFile, `${target.publicKey}\n`);
      expect(execFileSync("ssh-keygen", ["-l", "-f", keyFile], { encoding: "utf8" })).toContain("ED25519");
      const user = await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-user"]);
      expect(user.publicKey).not.toBe(target.publicKey);
      const host = await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-host"]);
      expect(host.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ jitgate-host$/);
      expect((await admin.run(["ca", "export"])).code).toBe(2);

      // The private keys exist only encrypted: not one file of the data directory holds one.
      for (const f of files(dataDir)) {
        if (f.endsWith("vault.key")) continue;
        const bytes = readFileSync(f);
        expect(bytes.includes("PRIVATE KEY"), f).toBe(false);
      }

      // A restart opens the same vault: the same root, a new server certificate.
      await gw.stop();
      gw = await startGateway({ dataDir, apiPort: port });
      expect(readFileSync(gw.caPath, "utf8")).toBe(caPem);
      expect((await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-target"])).publicKey).toBe(target.publicKey);
      expect((await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-host"])).publicKey).toBe(host.publicKey);
    } finally {
      await gw.stop();
      admin.cleanup();
    }
  });

  it("refuses to start without its key, or with the wrong key or passphrase, and says what to do", async () => {
    const dataDir = join(fresh(), "data");
    const gw = await startGateway({ dataDir, adminPassword: "admin-password-0001" });
    await gw.stop();
    const keyFile = join(dataDir, "vault.key");
    const key = readFileSync(keyFile);
    rmSync(keyFile);
    await expect(startGateway({ dataDir })).rejects.toThrow(/vault was created with a key file, but .*vault\.key does not exist: restore the key file/);
    writeFileSync(keyFile, `${Buffer.alloc(32, 7).toString("base64")}\n`, { mode: 0o600 });
    await expect(startGateway({ dataDir })).rejects.toThrow(/does not hold the vault's key: the vault stays locked/);
    writeFileSync(keyFile, key);
    chmodSync(keyFile, 0o644);
    await expect(startGateway({ dataDir })).rejects.toThrow(/chmod 600/);

    const withPassphrase = join(fresh(), "data");
    const first = await startGateway({ dataDir: withPassphrase, adminPassword: "admin-password-0001", env: { JITGATE_VAULT_PASSPHRASE: "correct horse battery staple" } });
    await first.stop();
    await expect(startGateway({ dataDir: withPassphrase, env: { JITGATE_VAULT_PASSPHRASE: "wrong horse battery staple" } })).rejects.toThrow(/wrong vault passphrase/);
    const again = await startGateway({ dataDir: withPassphrase, env: { JITGATE_VAULT_PASSPHRASE: "correct horse battery staple" } });
    await again.stop();
  });

  it("takes an account's secret into the vault and never shows it again: not in responses, logs, audit or the data files", async () => {
    const dataDir = join(fresh(), "data");
    const gw = await startGateway({ dataDir, adminPassword: "admin-password-0001" });
    const admin = new Person("admin", "admin-password-0001");
    const canary = "canary-Zq8wP3vX9kL2mN7r";
    const canary2 = "canary-second-Hj4Tt6Yy1Uu";
    try {
      expect((await admin.login(gw)).code).toBe(0);
      await admin.ok(["targets", "add", "db-1", "--kind", "postgres", "--address", "127.0.0.1:5432"]);
      const added = await admin.ok<{ hasSecret: boolean }>(["accounts", "add", "db-1", "app", "--auth", "password", "--secret-stdin"], { input: `${canary}\n` });
      expect(added.hasSecret).toBe(true);
      expect(await admin.fails(["accounts", "add", "db-1", "ro", "--auth", "ephemeral", "--secret-stdin"], { input: "x" })).toMatchObject({ code: "SECRET_NOT_USED" });
      expect((await admin.ok<{ login: string }[]>(["accounts", "db-1"])).map((a) => a.login)).toEqual(["app"]);
      expect((await admin.run(["accounts", "set-secret", "db-1", "app"])).code).toBe(2);
      await admin.ok(["accounts", "set-secret", "db-1", "app", "--secret-stdin", "--reason", "rotated by hand"], { input: canary2 });
      const audit = await admin.ok<{ type: string; data: { version?: number } }[]>(["audit", "--type", "account."]);
      expect(audit.map((e) => [e.type, e.data.version ?? null])).toEqual([["account.created", null], ["account.secret_set", 1], ["account.secret_set", 2]]);

      const responses = [
        (await admin.run(["accounts", "--json"])).stdout,
        (await admin.run(["audit", "--json", "--limit", "1000"])).stdout,
        (await admin.run(["targets", "--json"])).stdout,
      ].join("\n");
      for (const c of [canary, canary2]) {
        expect(responses).not.toContain(c);
        expect(gw.stdout() + gw.stderr()).not.toContain(c);
      }
      await gw.stop();
      for (const f of files(dataDir)) {
        const bytes = readFileSync(f);
        for (const c of [canary, canary2]) expect(bytes.includes(c), f).toBe(false);
      }
    } finally {
      await gw.stop();
      admin.cleanup();
    }
  });

  it("issues a client certificate for a key made on the person's machine, verifiable against the root", async () => {
    const dir = fresh();
    const gw = await startGateway({ dataDir: join(dir, "data"), adminPassword: "admin-password-0001" });
    const admin = new Person("admin", "admin-password-0001");
    try {
      expect((await admin.login(gw)).code).toBe(0);
      const out = join(dir, "client");
      const r = await admin.ok<{ sslcert: string; sslkey: string; sslrootcert: string; notAfter: string }>(["client-cert", "--out", out, "--for", "2h"]);
      expect(statSync(r.sslkey).mode & 0o777).toBe(0o600);
      expect(execFileSync("openssl", ["verify", "-CAfile", r.sslrootcert, "-purpose", "sslclient", r.sslcert], { encoding: "utf8" })).toContain("OK");
      expect(execFileSync("openssl", ["x509", "-in", r.sslcert, "-noout", "-subject"], { encoding: "utf8" })).toContain("CN = admin");
      expect(Math.abs(Date.parse(r.notAfter) - (Date.now() + 2 * 3600_000))).toBeLessThan(60_000);
      expect(await admin.fails(["client-cert", "--out", out, "--for", "48h"])).toMatchObject({ code: "VALIDITY_TOO_LONG" });
      const issued = await admin.ok<{ data: { kind: string; userName: string } }[]>(["audit", "--type", "certificate.issued"]);
      expect(issued.map((e) => [e.data.kind, e.data.userName])).toEqual([["x509-client", "admin"]]);
    } finally {
      await gw.stop();
      admin.cleanup();
    }
  });
});

