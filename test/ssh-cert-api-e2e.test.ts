// People's SSH certificates through the API and `jitgate cert`, against a running gateway:
// a key made by ssh-keygen, a certificate that ssh-keygen reads back, and the refusals.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callApi } from "../gateway/cli/client.js";
import { loadProfile } from "../gateway/cli/profile.js";
import type { AccessRequest, Grant } from "../policies/index.js";
import { Person, startGateway, tempDir, type GatewayProcess } from "./support/gateway.js";

const POLICY = `
policies:
  - name: web-ops
    subjects: { roles: [requester] }
    targets: [web-1]
    logins: [root]
    maxDuration: 2h
    approvals: { count: 0 }
  - name: tunnels
    subjects: { roles: [requester] }
    targets: [web-2]
    logins: [root]
    maxDuration: 2h
    approvals: { count: 0 }
    session: { forwarding: true }
  - name: db
    subjects: { roles: [requester] }
    targets: [db-1]
    logins: [root]
    maxDuration: 2h
    approvals: { count: 0 }
`;

interface Issued { certificate: string; keyId: string; serial: string; validBefore: string; file: string }

function keygen(path: string, args: string[]): void {
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", "alice@laptop", "-f", path, ...args], { stdio: "ignore" });
}

/** `ssh-keygen -L` of a certificate file, times in UTC. */
function inspect(path: string): string {
  return execFileSync("ssh-keygen", ["-L", "-f", path], { encoding: "utf8", env: { ...process.env, TZ: "UTC" } });
}

// ssh-keygen prints the validity in whole seconds, without the zone.
const sshTime = (iso: string) => new Date(Math.floor(Date.parse(iso) / 1000) * 1000).toISOString().slice(0, 19);

describe("SSH certificates for grants", () => {
  const dir = tempDir("jg-cert");
  const admin = new Person("admin", "admin-password-0001");
  const alice = new Person("alice", "alice-password-0001");
  const bob = new Person("bob", "bob-password-00001");
  let gw: GatewayProcess;

  const request = async (who: Person, target: string, extra: string[] = []) =>
    (await who.ok<AccessRequest>(["request", target, "--login", "root", "--for", "30m", "--reason", "maintenance", ...extra])).grantId as string;

  beforeAll(async () => {
    gw = await startGateway({ dataDir: join(dir, "data"), adminPassword: admin.password });
    expect((await admin.login(gw)).code).toBe(0);
    for (const t of ["web-1", "web-2"]) {
      await admin.ok(["targets", "add", t, "--kind", "ssh", "--address", "127.0.0.1:22"]);
      await admin.ok(["accounts", "add", t, "root", "--auth", "certificate"]);
    }
    await admin.ok(["targets", "add", "db-1", "--kind", "postgres", "--address", "127.0.0.1:5432"]);
    await admin.ok(["accounts", "add", "db-1", "root", "--auth", "password"]);
    for (const p of [alice, bob]) {
      await admin.ok(["users", "add", p.name, "--role", "requester", "--password-stdin"], { input: `${p.password}-initial\n` });
      await p.run(["login", "--server", gw.url, "--user", p.name, "--ca", gw.caPath], { env: { JITGATE_PASSWORD: `${p.password}-initial` } });
      const changed = await p.run(["passwd"], { env: { JITGATE_PASSWORD: `${p.password}-initial`, JITGATE_NEW_PASSWORD: p.password } });
      expect(changed.code, changed.stderr).toBe(0);
      expect((await p.login(gw)).code).toBe(0);
    }
    writeFileSync(join(dir, "policies.yaml"), POLICY);
    await admin.ok(["policies", "apply", join(dir, "policies.yaml")]);
    keygen(join(dir, "id_ed25519"), ["-t", "ed25519"]);
  });

  afterAll(async () => {
    await gw?.stop();
    for (const p of [admin, alice, bob]) p.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("certifies the holder's key until the grant's end; ssh-keygen reads it back", async () => {
    const grantId = await request(alice, "web-1");
    const grant = await alice.ok<Grant>(["grant", grantId]);
    const issued = await alice.ok<Issued>(["cert", grantId, "--key", join(dir, "id_ed25519.pub")]);
    const file = join(dir, "id_ed25519-cert.pub");
    expect(issued.file).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readFileSync(file, "utf8")).toBe(`${issued.certificate}\n`);
    expect(issued.keyId).toBe(`jitgate user=alice grant=${grantId}`);
    expect(issued.validBefore).toBe(new Date(Math.floor(Date.parse(grant.notAfter) / 1000) * 1000).toISOString());

    const shown = inspect(file);
    expect(shown).toContain("Type: ssh-ed25519-cert-v01@openssh.com user certificate");
    expect(shown).toContain(`Key ID: "jitgate user=alice grant=${grantId}"`);
    expect(shown).toMatch(/Principals:\s*\n\s+alice\s*\n\s+Critical Options: \(none\)/);
    expect(shown).toContain(`Serial: ${issued.serial}`);
    expect(shown).toMatch(new RegExp(`Valid: from \\S+ to ${sshTime(grant.notAfter)}\\n`));
    expect(shown).toMatch(/Extensions:\s*\n\s+permit-pty\s*\n?$/);
    // The key it certifies is the one sent.
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", join(dir, "id_ed25519.pub")], { encoding: "utf8" }).split(" ")[1];
    expect(shown).toContain(`Public key: ED25519-CERT ${fingerprint}`);

    // --out writes elsewhere, and the human output says where.
    const out = join(dir, "elsewhere-cert.pub");
    const human = await alice.run(["cert", grantId, "--key", join(dir, "id_ed25519.pub"), "--out", out]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`wrote ${out}`);
    expect(inspect(out)).toContain(`grant=${grantId}`);
    const audit = await admin.ok<{ actor: string; data: { kind: string; grantId: string; serial: string } }[]>(["audit", "--type", "certificate.issued"]);
    expect(audit.filter((e) => e.data.grantId === grantId).map((e) => [e.actor, e.data.kind])).toEqual([["alice", "ssh-user"], ["alice", "ssh-user"]]);
    expect(audit.map((e) => e.data.serial)).toContain(issued.serial);
  });

  it("allows forwarding only when the grant's policy does", async () => {
    const grantId = await request(alice, "web-2");
    const out = join(dir, "tunnel-cert.pub");
    await alice.ok(["cert", grantId, "--key", join(dir, "id_ed25519.pub"), "--out", out]);
    expect(inspect(out)).toMatch(/Extensions:\s*\n\s+permit-agent-forwarding\s*\n\s+permit-port-forwarding\s*\n\s+permit-pty\s*\n?$/);
  });

  it("refuses someone else's grant, one on a database, a scheduled one and an ended one", async () => {
    const key = join(dir, "id_ed25519.pub");
    const grantId = await request(alice, "web-1");
    expect(await bob.fails(["cert", grantId, "--key", key])).toMatchObject({ exit: 1, code: "GRANT_NOT_FOUND" });
    // An admin sees the grant, and is still not its holder.
    expect(await admin.fails(["cert", grantId, "--key", key])).toMatchObject({ exit: 1, code: "NOT_GRANT_HOLDER" });

    const onDatabase = await request(alice, "db-1");
    expect(await alice.fails(["cert", onDatabase, "--key", key])).toMatchObject({ exit: 1, code: "GRANT_NOT_SSH" });

    const later = await request(alice, "web-1", ["--start", new Date(Date.now() + 3_600_000).toISOString()]);
    expect(await alice.fails(["cert", later, "--key", key])).toMatchObject({ exit: 1, code: "GRANT_NOT_STARTED" });

    await alice.ok(["revoke", grantId]);
    const ended = await alice.fails(["cert", grantId, "--key", key]);
    expect(ended).toMatchObject({ exit: 1, code: "GRANT_ENDED" });
    expect(ended.message).toContain("revoked");
  });

  it("refuses keys it cannot certify with the vault's code and what to send", async () => {
    const grantId = await request(alice, "web-1");
    const garbage = join(dir, "garbage.pub");
    writeFileSync(garbage, "hello, this is not a key\n");
    const bad = await alice.fails(["cert", grantId, "--key", garbage]);
    expect(bad).toMatchObject({ exit: 1, code: "SSH_MALFORMED" });
    expect(bad.message).toContain(".pub");

    keygen(join(dir, "id_rsa1024"), ["-t", "rsa", "-b", "1024"]);
    expect(await alice.fails(["cert", grantId, "--key", join(dir, "id_rsa1024.pub")])).toMatchObject({ exit: 1, code: "SSH_WEAK_KEY" });
    expect(await alice.fails(["cert", grantId, "--key", join(dir, "id_ed25519-cert.pub")])).toMatchObject({ exit: 1, code: "SSH_UNSUPPORTED_KEY" });

    // The CLI never sends a private key, and the API refuses one that arrives anyway.
    expect(await alice.fails(["cert", grantId, "--key", join(dir, "id_ed25519")])).toMatchObject({ exit: 1, code: "SSH_PRIVATE_KEY" });
    const privateKey = readFileSync(join(dir, "id_ed25519"), "utf8");
    const api = loadProfile({ JITGATE_HOME: alice.home });
    const refused = await callApi(api, "POST", `/api/v1/grants/${grantId}/ssh-certificate`, { publicKey: privateKey }).then(
      () => null,
      (err: { code: string; status: number; message: string }) => err,
    );
    expect(refused).toMatchObject({ code: "SSH_MALFORMED", status: 400 });
    expect(refused?.message).toContain("private key");
    expect(gw.stdout() + gw.stderr()).not.toContain(privateKey.split("\n")[1] as string);
  });
});
