// `jitgate vault rekey` against a running gateway: the data keys re-wrapped under a key from
// a new passphrase or key file while it serves, the next start needing the new source, and
// a refused rekey changing nothing.
import { randomBytes } from "node:crypto";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { callApi } from "../gateway/cli/client.js";
import { loadProfile } from "../gateway/cli/profile.js";
import { Person, freePort, startGateway as startOn, tempDir, type GatewayOptions, type GatewayProcess } from "./support/gateway.js";
import { createTestDatabase, type TestDatabase } from "./support/postgres.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Rekeyed { kekId: string; kdf: string; rewrapped: number; message: string }

describe.each(["pglite", "postgres"] as const)("vault rekey on %s", (store) => {
  // Checks of the API's input do not depend on the store: listed once, not skipped once.
  const onceOnly = store === "pglite" ? it : () => undefined;
  let db: TestDatabase | null = null;
  afterAll(async () => {
    await db?.drop();
  });
  const startGateway = async (o: GatewayOptions) => {
    if (store === "postgres") db ??= await createTestDatabase("jg_rekey");
    return startOn({ ...o, databaseUrl: db?.url ?? null });
  };

  it("moves a key-file vault to a passphrase and back while serving; the next start needs the new source", async () => {
    const dir = tempDir("jg-rekey");
    dirs.push(dir);
    const dataDir = join(dir, "data");
    const port = await freePort();
    const passphrase = "a new vault passphrase Qm7Xk2";
    const canary = "canary-rekey-Vb3Nq8Lp1";
    const admin = new Person("admin", "admin-password-0001");
    let gw: GatewayProcess = await startGateway({ dataDir, adminPassword: admin.password, apiPort: port });
    const restart = async (env: Record<string, string> = {}) => {
      await gw.stop();
      gw = await startGateway({ dataDir, apiPort: port, env });
    };
    try {
      expect((await admin.login(gw)).code).toBe(0);
      await admin.ok(["targets", "add", "db-1", "--kind", "postgres", "--address", "127.0.0.1:5432"]);
      await admin.ok(["accounts", "add", "db-1", "app", "--auth", "password", "--secret-stdin"], { input: `${canary}\n` });
      const userCa = (await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-user"])).publicKey;

      // Refused before anything changes: a weak passphrase, a key file others may read, a
      // relative path, and a command line that names no source or two.
      expect(await admin.fails(["vault", "rekey", "--passphrase-stdin"], { input: "too short\n" })).toMatchObject({ exit: 1, code: "VAULT_WEAK_PASSPHRASE" });
      const loose = join(dir, "loose.key");
      writeFileSync(loose, `${randomBytes(32).toString("base64")}\n`, { mode: 0o644 });
      expect(await admin.fails(["vault", "rekey", "--key-file", loose])).toMatchObject({ exit: 1, code: "VAULT_KEY_FILE_MODE" });
      expect(await admin.fails(["vault", "rekey", "--key-file", "relative.key"])).toMatchObject({ exit: 1, code: "VAULT_KEY_FILE_INVALID" });
      expect((await admin.run(["vault", "rekey"])).code).toBe(2);
      expect((await admin.run(["vault", "rekey", "--passphrase-stdin", "--key-file", loose], { input: passphrase })).code).toBe(2);
      await restart();
      expect((await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-user"])).publicKey).toBe(userCa);

      // To a passphrase, read from stdin; the answer names what to change, never the passphrase.
      const raw = await admin.run(["vault", "rekey", "--passphrase-stdin", "--json"], { input: `${passphrase}\n` });
      expect(raw.code, raw.stderr).toBe(0);
      expect(raw.stdout).not.toContain(passphrase);
      const toPassphrase = raw.json<Rekeyed>();
      expect(toPassphrase.kdf).toBe("argon2id");
      // The account's secret and the four authorities, at least.
      expect(toPassphrase.rewrapped).toBeGreaterThanOrEqual(5);
      expect(toPassphrase.message).toContain("JITGATE_VAULT_PASSPHRASE");
      const rekeyed = await admin.ok<{ actor: string; data: { kekId: string; kdf: string } }[]>(["audit", "--type", "vault.rekeyed"]);
      expect(rekeyed.map((e) => [e.actor, e.data.kekId, e.data.kdf])).toEqual([["admin", toPassphrase.kekId, "argon2id"]]);

      // The running gateway goes on with the new key: it reads (CA export from the vault at
      // start, history) and writes (a new secret version).
      await admin.ok(["accounts", "set-secret", "db-1", "app", "--secret-stdin", "--reason", "after rekey"], { input: `${canary}-2` });
      expect((await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-user"])).publicKey).toBe(userCa);
      const history = await admin.ok<{ versions: { version: number; state: string }[] }>(["vault", "history", "db-1/app"]);
      expect(history.versions.map((v) => [v.version, v.state])).toEqual([[1, "retired"], [2, "current"]]);

      // The next start needs the passphrase: the old key file is refused, with the reason.
      await gw.stop();
      await expect(startGateway({ dataDir, apiPort: port })).rejects.toThrow(/sealed with a passphrase, not a key file/);
      await expect(startGateway({ dataDir, apiPort: port, env: { JITGATE_VAULT_PASSPHRASE: "not the vault passphrase" } })).rejects.toThrow(/wrong vault passphrase/);
      gw = await startGateway({ dataDir, apiPort: port, env: { JITGATE_VAULT_PASSPHRASE: passphrase } });
      expect((await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-user"])).publicKey).toBe(userCa);
      await admin.ok(["accounts", "set-secret", "db-1", "app", "--secret-stdin", "--reason", "after restart"], { input: `${canary}-3` });

      // And back to a key file on the gateway's host.
      const newKey = join(dir, "new-vault.key");
      writeFileSync(newKey, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
      const toFile = await admin.ok<Rekeyed>(["vault", "rekey", "--key-file", newKey]);
      expect(toFile).toMatchObject({ kdf: "keyfile" });
      expect(toFile.kekId).not.toBe(toPassphrase.kekId);
      expect(toFile.message).toContain(`vault.keyFile in the configuration at ${newKey}`);
      await admin.ok(["accounts", "set-secret", "db-1", "app", "--secret-stdin", "--reason", "after the second rekey"], { input: `${canary}-4` });
      await gw.stop();
      await expect(startGateway({ dataDir, apiPort: port, env: { JITGATE_VAULT_PASSPHRASE: passphrase } })).rejects.toThrow(/sealed with a key file, not a passphrase/);
      await expect(startGateway({ dataDir, apiPort: port })).rejects.toThrow(/does not hold the vault's key/);
      copyFileSync(newKey, join(dataDir, "vault.key"));
      gw = await startGateway({ dataDir, apiPort: port });
      expect((await admin.ok<{ publicKey: string }>(["ca", "export", "--ssh-user"])).publicKey).toBe(userCa);
      expect((await admin.ok<{ versions: unknown[] }>(["vault", "history", "db-1/app"])).versions).toHaveLength(4);

      for (const secret of [passphrase, canary]) expect(gw.stdout() + gw.stderr()).not.toContain(secret);
    } finally {
      await gw.stop();
      admin.cleanup();
    }
  });

  onceOnly("is for admins only, and takes exactly one source", async () => {
    const dir = tempDir("jg-rekey");
    dirs.push(dir);
    const gw = await startGateway({ dataDir: join(dir, "data"), adminPassword: "admin-password-0001" });
    const admin = new Person("admin", "admin-password-0001");
    const bob = new Person("bob", "bob-password-00001");
    try {
      expect((await admin.login(gw)).code).toBe(0);
      const api = loadProfile({ JITGATE_HOME: admin.home });
      for (const body of [{}, { passphrase: "a perfectly long passphrase", keyFile: "/etc/vault.key" }]) {
        await expect(callApi(api, "POST", "/api/v1/vault/rekey", body)).rejects.toMatchObject({ status: 400, code: "INVALID_BODY" });
      }
      await admin.ok(["users", "add", "bob", "--role", "approver", "--role", "auditor", "--password-stdin"], { input: `${bob.password}-initial\n` });
      await bob.run(["login", "--server", gw.url, "--user", "bob", "--ca", gw.caPath], { env: { JITGATE_PASSWORD: `${bob.password}-initial` } });
      expect((await bob.run(["passwd"], { env: { JITGATE_PASSWORD: `${bob.password}-initial`, JITGATE_NEW_PASSWORD: bob.password } })).code).toBe(0);
      expect((await bob.login(gw)).code).toBe(0);
      expect(await bob.fails(["vault", "rekey", "--passphrase-stdin"], { input: "a perfectly long passphrase" })).toMatchObject({ exit: 1, code: "ROLE_REQUIRED" });
    } finally {
      await gw.stop();
      admin.cleanup();
      bob.cleanup();
    }
  });
});
