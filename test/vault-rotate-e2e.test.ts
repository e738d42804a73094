// `jitgate vault rotate` end to end: a gateway rotating a role's password on a real
// PostgreSQL that checks passwords (scram-sha-256), then proving the old one is dead.
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Person, startGateway, freePort, type GatewayProcess } from "./support/gateway.js";
import { passwordLogin, runSql, startPrivateCluster, type PrivateCluster } from "./support/postgres.js";

const SUPER = "super-password-for-tests";
let cluster: PrivateCluster;
let gw: GatewayProcess;
const admin = new Person("admin", "admin-password-0001");

const sql = (text: string) => runSql(cluster.url, text);
const loginWorks = (user: string, password: string) => passwordLogin(cluster.port, user, password);

beforeAll(async () => {
  cluster = await startPrivateCluster({ auth: "scram-sha-256", superuserPassword: SUPER });
  await sql("CREATE ROLE app LOGIN PASSWORD 'app-initial-password'");
  await sql("CREATE ROLE report LOGIN PASSWORD 'report-initial-password'");
  await sql("CREATE ROLE rotator LOGIN CREATEROLE PASSWORD 'rotator-initial-password'");
  await sql("GRANT report TO rotator WITH ADMIN OPTION");
  gw = await startGateway({ adminPassword: admin.password });
  expect((await admin.login(gw)).code).toBe(0);
  await admin.ok(["targets", "add", "db-1", "--kind", "postgres", "--address", `127.0.0.1:${cluster.port}`]);
  await admin.ok(["accounts", "add", "db-1", "app", "--auth", "password", "--secret-stdin", "--option", "database=postgres"], { input: "app-initial-password" });
  await admin.ok(["accounts", "add", "db-1", "rotator", "--auth", "password", "--secret-stdin"], { input: "rotator-initial-password" });
  await admin.ok(["accounts", "add", "db-1", "report", "--auth", "password", "--secret-stdin", "--option", "rotateVia=rotator"], { input: "report-initial-password" });
});

afterAll(async () => {
  await gw?.stop();
  if (gw) rmSync(gw.dataDir, { recursive: true, force: true });
  await cluster?.stop();
  admin.cleanup();
});

describe("jitgate vault rotate", () => {
  it("rotates a role's own password: the old one stops working, the vault holds the new one", async () => {
    const r = await admin.ok<{ outcome: string; version: number }>(["vault", "rotate", "db-1/app", "--reason", "quarterly"]);
    expect(r).toMatchObject({ outcome: "rotated", version: 2 });
    expect(await loginWorks("app", "app-initial-password")).toBe("28P01");
    // Rotating again must log in with what the vault now holds: proof that it works.
    expect(await admin.ok<{ version: number }>(["vault", "rotate", "db-1/app"])).toMatchObject({ version: 3 });
    const history = await admin.ok<{ rotations: { outcome: string; actor: string; reason: string }[]; versions: { version: number; state: string }[] }>(["vault", "history", "db-1/app"]);
    expect(history.rotations.map((x) => [x.outcome, x.actor, x.reason])).toEqual([["rotated", "admin", "on demand"], ["rotated", "admin", "quarterly"]]);
    expect(history.versions.map((v) => [v.version, v.state])).toEqual([[1, "retired"], [2, "retired"], [3, "current"]]);
    expect(JSON.stringify(history)).not.toContain("app-initial-password");
  });

  it("rotates through a rotator account", async () => {
    expect(await admin.ok<{ version: number }>(["vault", "rotate", "db-1/report"])).toMatchObject({ version: 2 });
    expect(await loginWorks("report", "report-initial-password")).toBe("28P01");
    expect(await loginWorks("rotator", "rotator-initial-password")).toBe(true);
  });

  it("fails clearly against an unreachable target and keeps the old secret current", async () => {
    const port = await freePort();
    await admin.ok(["targets", "add", "db-gone", "--kind", "postgres", "--address", `127.0.0.1:${port}`]);
    await admin.ok(["accounts", "add", "db-gone", "app", "--auth", "password", "--secret-stdin"], { input: "whatever-password-1" });
    const e = await admin.fails(["vault", "rotate", "db-gone/app"]);
    expect(e).toMatchObject({ exit: 1, code: "ROTATION_FAILED" });
    expect(e.message).toContain("db-gone");
    const history = await admin.ok<{ rotations: { outcome: string }[]; versions: { version: number; state: string }[] }>(["vault", "history", "db-gone/app"]);
    expect(history.rotations.map((x) => x.outcome)).toEqual(["failed"]);
    expect(history.versions.find((v) => v.state === "current")?.version).toBe(1);
    const audit = await admin.ok<{ data: { targetName: string; outcome: string } }[]>(["audit", "--type", "vault.rotated"]);
    expect(audit.map((a) => [a.data.targetName, a.data.outcome])).toEqual([["db-1", "rotated"], ["db-1", "rotated"], ["db-1", "rotated"], ["db-gone", "failed"]]);
  });

  it("refuses what cannot be rotated, with the reason", async () => {
    await admin.ok(["targets", "add", "web-1", "--kind", "ssh", "--address", "127.0.0.1:22"]);
    await admin.ok(["accounts", "add", "web-1", "root", "--auth", "password"]);
    expect(await admin.fails(["vault", "rotate", "web-1/root"])).toMatchObject({ code: "ROTATION_UNSUPPORTED" });
    expect(await admin.fails(["vault", "rotate", "db-1/nobody"])).toMatchObject({ code: "ACCOUNT_NOT_FOUND" });
    expect((await admin.run(["vault", "rotate", "db-1"])).code).toBe(2);
  });
});
