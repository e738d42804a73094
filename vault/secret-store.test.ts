import { PGlite, type Transaction } from "@electric-sql/pglite";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { VaultError } from "./errors.js";
import { kekStatus, prepareRekey, unlockKek, type Argon2Params, type KekSource } from "./kek.js";
import type { VaultClock, VaultSql } from "./ports.js";
import { vaultMigrations } from "./schema.js";
import { SecretStore } from "./secret-store.js";

// Cheap argon2id for tests; the defaults are exercised once, where the stored parameters are checked.
const FAST: Argon2Params = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
const PASS: KekSource = { kind: "passphrase", passphrase: "correct horse battery staple" };
const clock: VaultClock = { now: () => Date.UTC(2026, 0, 1) };

function wrap(db: PGlite | Transaction): VaultSql {
  const client: VaultSql = {
    shared: false,
    query: async <R,>(text: string, params?: readonly unknown[]) => (await db.query(text, params ? [...params] : undefined)).rows as R[],
    transaction: (fn) => (db instanceof PGlite ? db.transaction((tx) => fn(wrap(tx))) : fn(client)),
  };
  return client;
}

let db: PGlite;
let sql: VaultSql;
let dir: string;

// One database per file (creating one takes about a second), emptied before each test.
beforeAll(async () => {
  db = await PGlite.create();
  for (const m of vaultMigrations) await db.exec(m.sql);
  sql = wrap(db);
});

afterAll(() => db.close());

beforeEach(async () => {
  await db.exec("TRUNCATE vault_secret_versions, vault_secrets, vault_keks, vault_rotations");
  dir = await mkdtemp(join(tmpdir(), "jitgate-vault-"));
});

afterEach(() => rm(dir, { recursive: true, force: true }));

async function openStore(source: KekSource = PASS): Promise<SecretStore> {
  return new SecretStore({ sql, clock }, await unlockKek({ sql, clock }, source, { argon2: FAST }));
}

async function failure(p: Promise<unknown>): Promise<VaultError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(VaultError);
  return err as VaultError;
}

const value = (s: string) => Buffer.from(s, "utf8");
const flipFirstByte = (table: string, column: string, where: string) =>
  db.exec(`UPDATE ${table} SET ${column} = overlay(${column} placing decode(lpad(to_hex(get_byte(${column}, 0) # 1), 2, '0'), 'hex') from 1 for 1) WHERE ${where}`);

describe("SecretStore", () => {
  it("round-trips a value and reports what it has", async () => {
    const store = await openStore();
    expect(await store.has("web-1/root")).toBe(false);
    const v = await store.put("web-1/root", "password", value("hunter2-but-longer"), "admin", "initial set");
    expect(v).toMatchObject({ name: "web-1/root", version: 1, state: "current", createdBy: "admin", reason: "initial set" });
    expect((await store.current("web-1/root")).toString()).toBe("hunter2-but-longer");
    expect(await store.has("web-1/root")).toBe(true);
    expect((await failure(store.current("nope/none"))).code).toBe("VAULT_SECRET_NOT_FOUND");
    expect((await failure(store.put("web-1/root", "token", value("x"), "admin", "r"))).code).toBe("VAULT_KIND_MISMATCH");
  });

  it("keeps every version, exactly one current, each under its own data key", async () => {
    const store = await openStore();
    for (const v of ["one", "two", "three"]) await store.put("db/app", "password", value(v), "admin", `set ${v}`);
    const versions = await store.versions("db/app");
    expect(versions.map((v) => [v.version, v.state])).toEqual([[1, "retired"], [2, "retired"], [3, "current"]]);
    expect(versions.map((v) => v.reason)).toEqual(["set one", "set two", "set three"]);
    expect(versions.some((v) => "value" in v)).toBe(false);
    expect((await store.current("db/app")).toString()).toBe("three");
    expect((await store.read("db/app", 1)).toString()).toBe("one");
    const deks = await sql.query<{ dek_ciphertext: Uint8Array }>("SELECT dek_ciphertext FROM vault_secret_versions");
    expect(new Set(deks.map((d) => Buffer.from(d.dek_ciphertext).toString("hex"))).size).toBe(3);
    const [c] = await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM vault_secret_versions WHERE state = 'current'");
    expect(c?.n).toBe(1);
  });

  it("rotates in two phases: pending, then promoted or discarded", async () => {
    const store = await openStore();
    await store.put("web-1/root", "password", value("old"), "admin", "set");
    const p = await store.putPending("web-1/root", "password", value("new"), "rotator", "scheduled rotation");
    expect(p).toMatchObject({ version: 2, state: "pending" });
    expect((await store.current("web-1/root")).toString()).toBe("old");
    expect((await store.read("web-1/root", 2)).toString()).toBe("new");
    expect((await failure(store.putPending("web-1/root", "password", value("x"), "rotator", "again"))).code).toBe("VAULT_PENDING_EXISTS");
    expect(await store.promote("web-1/root", 2)).toMatchObject({ version: 2, state: "current" });
    expect((await store.current("web-1/root")).toString()).toBe("new");
    expect((await failure(store.promote("web-1/root", 2))).code).toBe("VAULT_NOT_PENDING");

    await store.putPending("web-1/root", "password", value("failed"), "rotator", "rotation that fails");
    expect(await store.discard("web-1/root", 3)).toMatchObject({ version: 3, state: "discarded" });
    expect((await store.current("web-1/root")).toString()).toBe("new");
    expect((await store.versions("web-1/root")).map((v) => v.state)).toEqual(["retired", "current", "discarded"]);
  });

  it("refuses a wrong passphrase and unlocks nothing; stores the default argon2id parameters", async () => {
    const kek = await unlockKek({ sql, clock }, PASS);
    const [meta] = await sql.query<{ kdf: string; kdf_params: Record<string, number>; salt: Uint8Array }>("SELECT * FROM vault_keks");
    expect(meta?.kdf).toBe("argon2id");
    expect(meta?.kdf_params).toMatchObject({ memoryCost: 65536, timeCost: 3, parallelism: 1, outputLen: 32 });
    expect(meta?.salt).toHaveLength(16);
    const store = new SecretStore({ sql, clock }, kek);
    await store.put("web-1/root", "password", value("kept safe"), "admin", "set");
    store.close();
    expect(kek.isOpen).toBe(false);
    expect((await failure(store.current("web-1/root"))).code).toBe("VAULT_LOCKED");

    const err = await failure(unlockKek({ sql, clock }, { kind: "passphrase", passphrase: "correct horse battery stapler" }));
    expect([err.code, err.kind]).toEqual(["VAULT_BAD_PASSPHRASE", "locked"]);
    expect(await sql.query("SELECT id FROM vault_keks")).toHaveLength(1);
    const again = new SecretStore({ sql, clock }, await unlockKek({ sql, clock }, PASS));
    expect((await again.current("web-1/root")).toString()).toBe("kept safe");
  });

  it("refuses a short passphrase when creating the KEK", async () => {
    expect((await failure(unlockKek({ sql, clock }, { kind: "passphrase", passphrase: "short" }))).code).toBe("VAULT_WEAK_PASSPHRASE");
    expect(await sql.query("SELECT id FROM vault_keks")).toHaveLength(0);
  });

  it("reports a flipped byte in a value or a data key as VAULT_CORRUPT naming the secret", async () => {
    const store = await openStore();
    await store.put("web-1/root", "password", value("tamper-target-value"), "admin", "set");
    await store.put("web-2/root", "password", value("other"), "admin", "set");
    await flipFirstByte("vault_secret_versions", "value_ciphertext", "secret_id = (SELECT id FROM vault_secrets WHERE name = 'web-1/root')");
    const err = await failure(store.current("web-1/root"));
    expect([err.code, err.kind]).toEqual(["VAULT_CORRUPT", "corrupt"]);
    expect(err.message).toContain('secret "web-1/root" version 1');
    expect(err.message).not.toContain("tamper-target-value");

    await flipFirstByte("vault_secret_versions", "dek_tag", "secret_id = (SELECT id FROM vault_secrets WHERE name = 'web-2/root')");
    const dekErr = await failure(store.current("web-2/root"));
    expect(dekErr.code).toBe("VAULT_CORRUPT");
    expect(dekErr.message).toContain('secret "web-2/root" version 1 (data key)');
  });

  it("fails to decrypt a version copied onto another secret", async () => {
    const store = await openStore();
    await store.put("a/login", "password", value("value of a"), "admin", "set");
    await store.put("b/login", "password", value("value of b"), "admin", "set");
    await db.exec(`
      UPDATE vault_secret_versions t SET dek_iv = f.dek_iv, dek_tag = f.dek_tag, dek_ciphertext = f.dek_ciphertext,
        value_iv = f.value_iv, value_tag = f.value_tag, value_ciphertext = f.value_ciphertext
      FROM vault_secret_versions f
      WHERE f.secret_id = (SELECT id FROM vault_secrets WHERE name = 'a/login')
        AND t.secret_id = (SELECT id FROM vault_secrets WHERE name = 'b/login')`);
    const err = await failure(store.current("b/login"));
    expect(err.code).toBe("VAULT_CORRUPT");
    expect(err.message).toContain('"b/login"');
    expect((await store.current("a/login")).toString()).toBe("value of a");
  });

  it("rekeys every data key under a new KEK, leaving value ciphertexts alone", async () => {
    const store = await openStore();
    const expected = new Map<string, string>();
    for (let s = 0; s < 4; s++) {
      for (let v = 1; v <= 3; v++) {
        const text = `secret ${s} version ${v}`;
        await store.put(`host-${s}/root`, "password", value(text), "admin", "set");
        expected.set(`host-${s}/root#${v}`, text);
      }
    }
    const sealedRows = async () =>
      new Map(
        (await sql.query<{ k: string; value_ciphertext: Uint8Array; dek_ciphertext: Uint8Array; kek_id: string }>(
          "SELECT s.name || '#' || v.version AS k, v.value_ciphertext, v.dek_ciphertext, v.kek_id FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id",
        )).map((r) => [r.k, r]),
      );
    const before = await sealedRows();
    const NEW: KekSource = { kind: "passphrase", passphrase: "a completely different passphrase" };
    const next = await prepareRekey({ sql, clock }, NEW, { argon2: FAST });
    expect((await prepareRekey({ sql, clock }, NEW, { argon2: FAST })).id).toBe(next.id);
    expect((await kekStatus(sql)).next?.id).toBe(next.id);

    // Reads run alongside the rekey and must see every value whichever KEK wraps it at the time.
    const reads = Promise.all([0, 1, 2, 3].map(async (s) => (await store.current(`host-${s}/root`)).toString()));
    const [result, seen] = await Promise.all([store.rekey(next, { batchSize: 5 }), reads]);
    expect(result).toEqual({ kekId: next.id, rewrapped: 12 });
    expect(seen).toEqual([0, 1, 2, 3].map((s) => `secret ${s} version 3`));
    await store.put("host-0/root", "password", value("after rekey"), "admin", "set");
    expected.set("host-0/root#4", "after rekey");

    const after = await sealedRows();
    expect(after.size).toBe(13);
    expect([...after.values()].every((r) => r.kek_id === next.id)).toBe(true);
    for (const [k, b] of before) {
      const r = after.get(k)!;
      expect(Buffer.from(r.value_ciphertext).equals(Buffer.from(b.value_ciphertext))).toBe(true);
      expect(Buffer.from(r.dek_ciphertext).equals(Buffer.from(b.dek_ciphertext))).toBe(false);
    }
    expect(next.isOpen).toBe(true);
    const status = await kekStatus(sql);
    expect([status.active?.id, status.next]).toEqual([next.id, null]);

    expect((await failure(unlockKek({ sql, clock }, PASS))).code).toBe("VAULT_BAD_PASSPHRASE");
    const reopened = await openStore(NEW);
    for (const [key, text] of expected) {
      const [name, v] = key.split("#") as [string, string];
      expect((await reopened.read(name, Number(v))).toString()).toBe(text);
    }
  });

  it("keeps every version readable through an interrupted rekey, which the same new key resumes", async () => {
    let failAt = 0;
    let calls = 0;
    const faulty: VaultSql = {
      shared: false,
      query: (text, params) => sql.query(text, params),
      transaction: (fn) => (++calls === failAt ? Promise.reject(new Error("connection lost")) : sql.transaction(fn)),
    };
    const store = new SecretStore({ sql: faulty, clock }, await unlockKek({ sql, clock }, PASS, { argon2: FAST }));
    for (let s = 0; s < 6; s++) await store.put(`host-${s}/root`, "password", value(`value ${s}`), "admin", "set");
    const NEW: KekSource = { kind: "passphrase", passphrase: "the passphrase after rekey" };
    const next = await prepareRekey({ sql, clock }, NEW, { argon2: FAST });
    calls = 0;
    failAt = 2;
    expect(await store.rekey(next, { batchSize: 2 }).then(() => "done", (e: Error) => e.message)).toBe("connection lost");
    failAt = 0;

    const kekIds = await sql.query<{ kek_id: string }>("SELECT DISTINCT kek_id FROM vault_secret_versions");
    expect(kekIds).toHaveLength(2);
    for (let s = 0; s < 6; s++) expect((await store.current(`host-${s}/root`)).toString()).toBe(`value ${s}`);

    // A node that restarts now holds only the old KEK: moved versions say which key they need.
    const restarted = await openStore();
    const moved = await sql.query<{ name: string }>(
      "SELECT s.name FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id WHERE v.kek_id = $1 LIMIT 1",
      [next.id],
    );
    const err = await failure(restarted.current(moved[0]!.name));
    expect([err.code, err.message]).toEqual(["VAULT_KEK_UNAVAILABLE", expect.stringContaining(next.id)]);
    expect((await failure(prepareRekey({ sql, clock }, { kind: "passphrase", passphrase: "yet another passphrase" }, { argon2: FAST }))).code).toBe(
      "VAULT_REKEY_IN_PROGRESS",
    );
    const otherNode = await openStore();
    const resumed = await prepareRekey({ sql, clock }, NEW, { argon2: FAST });
    expect(resumed.id).toBe(next.id);
    expect((await restarted.rekey(resumed)).kekId).toBe(next.id);
    for (let s = 0; s < 6; s++) expect((await restarted.current(`host-${s}/root`)).toString()).toBe(`value ${s}`);

    // Another node that unlocked before the switch may not write under the retired KEK.
    const err2 = await failure(otherNode.put("host-0/root", "password", value("late"), "admin", "set"));
    expect([err2.code, err2.kind]).toEqual(["VAULT_KEK_RETIRED", "locked"]);
  });

  it("refuses a group- or world-readable key file, and opens a private one", async () => {
    const key = randomBytes(32);
    const path = join(dir, "vault.key");
    await writeFile(path, key.toString("base64") + "\n", { mode: 0o644 });
    await chmod(path, 0o644);
    const err = await failure(unlockKek({ sql, clock }, { kind: "keyfile", path }));
    expect([err.code, err.message]).toEqual(["VAULT_KEY_FILE_MODE", expect.stringContaining("mode 0644")]);
    expect(err.message).not.toContain(key.toString("base64"));
    expect(await sql.query("SELECT id FROM vault_keks")).toHaveLength(0);

    await chmod(path, 0o600);
    const store = await openStore({ kind: "keyfile", path });
    await store.put("web-1/deploy", "private-key", value("-----BEGIN OPENSSH PRIVATE KEY-----"), "admin", "set");
    const raw = join(dir, "raw.key");
    await writeFile(raw, key, { mode: 0o600 });
    expect((await (await openStore({ kind: "keyfile", path: raw })).current("web-1/deploy")).toString()).toContain("OPENSSH");

    const wrong = join(dir, "wrong.key");
    await writeFile(wrong, randomBytes(32), { mode: 0o600 });
    expect((await failure(unlockKek({ sql, clock }, { kind: "keyfile", path: wrong }))).code).toBe("VAULT_BAD_KEY_FILE");
    expect((await failure(unlockKek({ sql, clock }, PASS))).code).toBe("VAULT_KEK_SOURCE_MISMATCH");
    await writeFile(join(dir, "short.key"), "c2hvcnQ=", { mode: 0o600 });
    expect((await failure(unlockKek({ sql, clock }, { kind: "keyfile", path: join(dir, "short.key") }))).code).toBe("VAULT_KEY_FILE_INVALID");
  });

  it("leaves no trace of a known value in any column of any vault table", async () => {
    const known = "Known-Secret-Value-8f3a1c";
    const store = await openStore();
    await store.put("web-1/root", "password", value(known), "admin", "set");
    await store.putPending("web-1/root", "password", value(known + "-next"), "rotator", "rotate");
    const columns = await sql.query<{ table_name: string; column_name: string }>(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_name LIKE 'vault\\_%' ORDER BY table_name, ordinal_position",
    );
    expect(new Set(columns.map((c) => c.table_name))).toEqual(new Set(["vault_keks", "vault_secrets", "vault_secret_versions", "vault_rotations"]));
    let dump = "";
    for (const c of columns) {
      const rows = await sql.query<{ v: string | null }>(`SELECT "${c.column_name}"::text AS v FROM ${c.table_name}`);
      dump += rows.map((r) => r.v ?? "").join("\n") + "\n";
    }
    expect(dump.length).toBeGreaterThan(1000);
    const bytes = Buffer.from(known);
    for (const form of [known, known.toLowerCase(), bytes.toString("hex"), bytes.toString("base64").slice(0, 24)]) {
      expect(dump.toLowerCase()).not.toContain(form.toLowerCase());
    }
  });
});
