// Rotations nobody asked for, end to end: a gateway process rotating a role's password on a
// real PostgreSQL (scram-sha-256) on its schedule (`--option rotateEvery=3s`) and when a
// grant on the account ends (`--option checkIn=true`), by expiry or by revocation.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessRequest } from "../policies/index.js";
import { Person, startGateway, tempDir, type GatewayProcess } from "./support/gateway.js";
import { createTestDatabase, passwordLogin, runSql, startPrivateCluster, type PrivateCluster, type TestDatabase } from "./support/postgres.js";

const SUPER = "super-password-for-tests";
const POLICY = `
policies:
  - name: db-quick
    subjects: { roles: [requester] }
    targets: [db-1]
    logins: ["*"]
    maxDuration: 1h
    approvals: { count: 1 }
    autoApprove: [{ subjects: { roles: [requester] } }]
`;

interface History {
  rotations: { trigger: string; outcome: string; actor: string; reason: string; error: string | null; startedAt: string }[];
  versions: { version: number; state: string }[];
}

let cluster: PrivateCluster;
let gw: GatewayProcess;
const dir = tempDir("jg-triggers");
const admin = new Person("admin", "admin-password-0001");
const bob = new Person("bob", "bob-password-0001");

/** `jitgate serve` with a rotation check every second, so a 3 s schedule is seen promptly. */
function startGatewayProcess(node: string, databaseUrl: string | null = null, passphrase = "", checkEvery = "1s"): Promise<GatewayProcess> {
  const dataDir = join(dir, node);
  mkdirSync(dataDir, { recursive: true });
  return startGateway({
    dataDir, databaseUrl, adminPassword: admin.password,
    env: passphrase ? { JITGATE_VAULT_PASSPHRASE: passphrase } : {},
    extraConfig: [`vault: { rotationCheckInterval: ${checkEvery} }`],
  });
}

const sql = (text: string) => runSql(cluster.url, text);
const loginWorks = (user: string, password: string) => passwordLogin(cluster.port, user, password);

const history = (account: string, who = admin) => who.ok<History>(["vault", "history", account]);

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== null) return got;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\ngateway stderr: ${gw.stderr()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const checkIns = async (account: string, grantId: string, who = admin) =>
  (await history(account, who)).rotations.filter((r) => r.trigger === "check-in" && r.reason === `grant ${grantId} ended`);

beforeAll(async () => {
  cluster = await startPrivateCluster({ auth: "scram-sha-256", superuserPassword: SUPER });
  for (const role of ["sched", "checkin", "plain", "odd", "twin_sched", "twin_checkin"]) await sql(`CREATE ROLE ${role} LOGIN PASSWORD '${role}-initial-password'`);
  gw = await startGatewayProcess("single");
  expect((await admin.login(gw)).code).toBe(0);
  await admin.ok(["targets", "add", "db-1", "--kind", "postgres", "--address", `127.0.0.1:${cluster.port}`]);
  const account = (login: string, ...options: string[]) =>
    admin.ok(["accounts", "add", "db-1", login, "--auth", "password", "--secret-stdin", ...options.flatMap((o) => ["--option", o])], { input: `${login}-initial-password` });
  await account("sched", "rotateEvery=3s");
  await account("checkin", "checkIn=true");
  await account("plain");
  await account("odd", "rotateEvery=soon");
  await addRequester(gw, admin, bob);
}, 120_000);

/** Adds `who` as a requester who has chosen their password, and the auto-approving policy. */
async function addRequester(on: GatewayProcess, by: Person, who: Person): Promise<void> {
  await by.ok(["users", "add", who.name, "--role", "requester", "--password-stdin"], { input: `${who.password}-initial\n` });
  await who.run(["login", "--server", on.url, "--user", who.name, "--ca", on.caPath], { env: { JITGATE_PASSWORD: `${who.password}-initial` } });
  const changed = await who.run(["passwd"], { env: { JITGATE_PASSWORD: `${who.password}-initial`, JITGATE_NEW_PASSWORD: who.password } });
  expect(changed.code, changed.stderr).toBe(0);
  expect((await who.login(on)).code).toBe(0);
  const policyFile = join(dir, "policies.yaml");
  writeFileSync(policyFile, POLICY);
  await by.ok(["policies", "apply", policyFile]);
}

afterAll(async () => {
  await gw?.stop();
  await cluster?.stop();
  admin.cleanup();
  bob.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("rotation triggers", () => {
  it("rotates an account with rotateEvery on its schedule", async () => {
    const first = await waitFor("a scheduled rotation of db-1/sched", async () => {
      const h = await history("db-1/sched");
      return h.rotations.find((r) => r.trigger === "schedule") ?? null;
    });
    expect(first).toMatchObject({ trigger: "schedule", outcome: "rotated", actor: "system", reason: "every 3s", error: null });
    expect(await loginWorks("sched", "sched-initial-password")).toBe("28P01");
    // It keeps going: the next one comes about three seconds after the first.
    const h = await waitFor("a second scheduled rotation", async () => {
      const now = await history("db-1/sched");
      return now.rotations.filter((r) => r.trigger === "schedule").length >= 2 ? now : null;
    });
    expect(h.rotations.every((r) => r.trigger === "schedule" && r.outcome === "rotated")).toBe(true);
    expect(h.versions.filter((v) => v.state === "current")).toHaveLength(1);
    expect(JSON.stringify(h)).not.toContain("sched-initial-password");
  });

  it("rotates a checkIn account once when a grant on it expires", async () => {
    const r = await bob.ok<AccessRequest>(["request", "db-1", "--login", "checkin", "--for", "2s", "--reason", "look at a table"]);
    expect(r.state).toBe("approved");
    const grantId = r.grantId ?? "";
    expect(await loginWorks("checkin", "checkin-initial-password")).toBe(true);
    await waitFor("the check-in rotation", async () => ((await checkIns("db-1/checkin", grantId)).length > 0 ? true : null));
    // Give the expiry's record and a couple of sweeps time to run: still exactly one.
    await new Promise((res) => setTimeout(res, 2500));
    const entries = await checkIns("db-1/checkin", grantId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ outcome: "rotated", actor: "system", error: null });
    expect(await loginWorks("checkin", "checkin-initial-password")).toBe("28P01");
    const h = await history("db-1/checkin");
    expect(h.rotations.map((x) => x.trigger)).toEqual(["check-in"]);
    expect(h.versions.find((v) => v.state === "current")?.version).toBe(2);
  });

  it("rotates a checkIn account when a grant on it is revoked", async () => {
    const r = await bob.ok<AccessRequest>(["request", "db-1", "--login", "checkin", "--for", "30m", "--reason", "fix a row"]);
    const grantId = r.grantId ?? "";
    const before = await history("db-1/checkin");
    await admin.ok(["revoke", grantId, "--reason", "done"]);
    const entries = await waitFor("the check-in after the revocation", async () => {
      const found = await checkIns("db-1/checkin", grantId);
      return found.length > 0 ? found : null;
    });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ outcome: "rotated", actor: "system" });
    const after = await history("db-1/checkin");
    expect(after.rotations).toHaveLength(before.rotations.length + 1);
    expect(after.versions.find((v) => v.state === "current")?.version).toBe(3);
  });

  it("never rotates an account without these options, and warns once about a bad rotateEvery", async () => {
    // A grant on the plain account ends too: no check-in for it.
    const r = await bob.ok<AccessRequest>(["request", "db-1", "--login", "plain", "--for", "1s", "--reason", "peek"]);
    await new Promise((res) => setTimeout(res, 3000));
    expect((await admin.ok<{ state: string }>(["grant", r.grantId ?? ""])).state).toBe("ended");
    for (const account of ["db-1/plain", "db-1/odd"]) {
      const h = await history(account);
      expect(h.rotations).toEqual([]);
      expect(h.versions.map((v) => [v.version, v.state])).toEqual([[1, "current"]]);
    }
    expect(await loginWorks("plain", "plain-initial-password")).toBe(true);
    expect(await loginWorks("odd", "odd-initial-password")).toBe(true);
    const warnings = gw.stderr().split("\n").filter((l) => l.includes("rotateEvery is not a duration"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("db-1/odd");
    // The checkIn account is not on a schedule.
    expect((await history("db-1/checkin")).rotations.some((x) => x.trigger === "schedule")).toBe(false);
  });
});

// Two nodes sharing a served PostgreSQL store: both run the schedule check and both announce
// a grant's expiry themselves, yet each account is rotated once per interval and once per
// grant end, because the decision is taken again under the cluster-wide lock.
describe("rotation triggers on two nodes", () => {
  let db: TestDatabase;
  let nodeA: GatewayProcess;
  let nodeB: GatewayProcess;
  const ops = new Person("admin", admin.password);
  const carol = new Person("carol", "carol-password-001");
  const PASSPHRASE = "two nodes one vault passphrase";

  beforeAll(async () => {
    db = await createTestDatabase("jg_triggers");
    // Checking five times a second, each node finds an account due while the other rotates it.
    nodeA = await startGatewayProcess("node-a", db.url, PASSPHRASE, "200ms");
    nodeB = await startGatewayProcess("node-b", db.url, PASSPHRASE, "200ms");
    expect((await ops.login(nodeA)).code).toBe(0);
    await ops.ok(["targets", "add", "db-1", "--kind", "postgres", "--address", `127.0.0.1:${cluster.port}`]);
    await ops.ok(["accounts", "add", "db-1", "twin_checkin", "--auth", "password", "--secret-stdin", "--option", "checkIn=true"], { input: "twin_checkin-initial-password" });
    await addRequester(nodeA, ops, carol);
  }, 120_000);

  afterAll(async () => {
    await nodeA?.stop();
    await nodeB?.stop();
    await db?.drop();
    ops.cleanup();
    carol.cleanup();
  });

  it("checks a grant in once although both nodes see it expire", async () => {
    const r = await carol.ok<AccessRequest>(["request", "db-1", "--login", "twin_checkin", "--for", "3s", "--reason", "both nodes watch this"]);
    const grantId = r.grantId ?? "";
    await waitFor("the check-in", async () => ((await checkIns("db-1/twin_checkin", grantId, ops)).length > 0 ? true : null));
    await new Promise((res) => setTimeout(res, 3000));
    const h = await history("db-1/twin_checkin", ops);
    expect(h.rotations.map((x) => [x.trigger, x.outcome, x.reason])).toEqual([["check-in", "rotated", `grant ${grantId} ended`]]);
    expect(await loginWorks("twin_checkin", "twin_checkin-initial-password")).toBe("28P01");
  });

  it("rotates a scheduled account once per interval although both nodes check it", async () => {
    await ops.ok(["accounts", "add", "db-1", "twin_sched", "--auth", "password", "--secret-stdin", "--option", "rotateEvery=2s"], { input: "twin_sched-initial-password" });
    const h = await waitFor("four scheduled rotations", async () => {
      const now = await history("db-1/twin_sched", ops);
      return now.rotations.length >= 4 ? now : null;
    }, 30_000);
    const starts = h.rotations.map((x) => Date.parse(String(x.startedAt))).sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i++) expect((starts[i] ?? 0) - (starts[i - 1] ?? 0)).toBeGreaterThanOrEqual(1900);
    expect(h.rotations.every((x) => x.trigger === "schedule" && x.outcome === "rotated")).toBe(true);
  });
});
