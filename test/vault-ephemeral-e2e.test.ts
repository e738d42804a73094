// Ephemeral PostgreSQL accounts end to end: the gateway makes a role for each grant on an
// `ephemeral` account and drops it when the grant ends; roles left behind are dropped at start.
import pg from "pg";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessRequest, Grant } from "../policies/index.js";
import { EphemeralRoles } from "../vault/index.js";
import { Person, freePort, startGateway, tempDir, type GatewayProcess } from "./support/gateway.js";
import { startPrivateCluster, type PrivateCluster } from "./support/postgres.js";

const SUPER = "super-password-for-tests";
let cluster: PrivateCluster;
let gw: GatewayProcess;
let port: number;
const dir = tempDir("jg-ephemeral");
const admin = new Person("admin", "admin-password-0001");

async function query<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: cluster.url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

const roleOf = (grantId: string) =>
  query<{ rolname: string; rolvaliduntil: Date; member: boolean }>(
    // Membership read from the catalog, not pg_has_role(), which fails when the gateway drops
    // the role between the scan of pg_roles and the call.
    `SELECT r.rolname, r.rolvaliduntil,
            EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid AND g.rolname = 'readers') AS member
     FROM pg_roles r WHERE shobj_description(r.oid, 'pg_authid') LIKE $1`,
    [`%grant=${grantId}%`],
  );

async function waitFor<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  cluster = await startPrivateCluster({ auth: "scram-sha-256", superuserPassword: SUPER });
  await query("CREATE ROLE readers NOLOGIN");
  await query("CREATE ROLE jgadmin LOGIN CREATEROLE PASSWORD 'jgadmin-initial-password'");
  await query("GRANT readers TO jgadmin WITH ADMIN OPTION");
  port = await freePort();
  gw = await startGateway({ dataDir: join(dir, "data"), adminPassword: admin.password, apiPort: port });
  expect((await admin.login(gw)).code).toBe(0);
  writeFileSync(join(dir, "p.yaml"), `
policies:
  - name: analysts
    subjects: { roles: [admin] }
    targets: [db-1]
    logins: [analyst]
    maxDuration: 1h
    requireReason: false
    approvals: { count: 0 }
`);
  await admin.ok(["policies", "apply", join(dir, "p.yaml")]);
  await admin.ok(["targets", "add", "db-1", "--kind", "postgres", "--address", `127.0.0.1:${cluster.port}`]);
  await admin.ok(["accounts", "add", "db-1", "jgadmin", "--auth", "password", "--secret-stdin"], { input: "jgadmin-initial-password" });
  await admin.ok(["accounts", "add", "db-1", "analyst", "--auth", "ephemeral", "--option", "memberOf=readers", "--option", "adminVia=jgadmin"]);
});

afterAll(async () => {
  await gw?.stop();
  await cluster?.stop();
  admin.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("ephemeral PostgreSQL accounts", () => {
  it("makes a role for a grant, valid until its end and member of the configured roles, and drops it when the grant ends", async () => {
    const r = await admin.ok<AccessRequest>(["request", "db-1", "--login", "analyst", "--for", "4s"]);
    const grant = await admin.ok<Grant>(["grant", r.grantId ?? ""]);
    const [role] = await waitFor("the role", async () => ((await roleOf(grant.id)).length ? roleOf(grant.id) : null));
    expect(role?.rolname).toMatch(/^jg_admin_[0-9a-f]{12}$/);
    expect(role?.rolvaliduntil.getTime()).toBe(Date.parse(grant.notAfter));
    expect(role?.member).toBe(true);
    await waitFor("the role to be dropped", async () => ((await roleOf(grant.id)).length === 0 ? true : null), 15_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(grant.notAfter));
  });

  it("drops the role at once when the grant is revoked", async () => {
    const r = await admin.ok<AccessRequest>(["request", "db-1", "--login", "analyst", "--for", "30m"]);
    await waitFor("the role", async () => ((await roleOf(r.grantId ?? "")).length ? true : null));
    await admin.ok(["revoke", r.grantId ?? ""]);
    await waitFor("the role to be dropped", async () => ((await roleOf(r.grantId ?? "")).length === 0 ? true : null), 5_000);
  });

  it("drops, at start, roles whose grants are gone", async () => {
    await gw.stop();
    const roles = new EphemeralRoles();
    const leftover = "7d1f0c2a-0000-4000-8000-00000000beef";
    const made = await roles.create(
      { target: { host: "127.0.0.1", port: cluster.port, database: "postgres" }, admin: { login: "postgres", password: Buffer.from(SUPER) } },
      { grantId: leftover, userName: "ghost", memberOf: ["readers"], validUntil: new Date(Date.now() + 3600_000) },
    );
    made.password.fill(0);
    expect(await roleOf(leftover)).toHaveLength(1);
    gw = await startGateway({ dataDir: join(dir, "data"), apiPort: port });
    await waitFor("the leftover role to be dropped", async () => ((await roleOf(leftover)).length === 0 ? true : null));
  });
});
