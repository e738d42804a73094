// The PostgreSQL engine end to end: stock psql and the pg driver through `jitgate serve`
// to a private scram-sha-256 cluster, logging in upstream with the vault's password.
import { execFile, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessRequest } from "../policies/index.js";
import { Person, startGateway, tempDir, type GatewayProcess } from "./support/gateway.js";
import { startPrivateCluster, type PrivateCluster } from "./support/postgres.js";

const run = promisify(execFile);
const SUPER = "super-password-for-pg-tests";
const dir = tempDir("jg-pg");
const admin = new Person("admin", "admin-password-0001");
let cluster: PrivateCluster;
let gw: GatewayProcess;
let pgPort: number;

interface Conn { connection: string; password: string; grantId: string }

async function superQuery<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: cluster.url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

async function grantFor(target: string, login: string, duration = "30m"): Promise<string> {
  const r = await admin.ok<AccessRequest>(["request", target, "--login", login, "--for", duration]);
  return r.grantId ?? "";
}

async function connection(target: string, db = "shop"): Promise<Conn> {
  return admin.ok<Conn>(["pg", target, "--db", db, "--port", String(pgPort)]);
}

function client(c: Conn, over: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: "127.0.0.1", port: pgPort, user: "admin", database: "db-1/shop", password: c.password, ssl: false, ...over });
}

function psql(c: Conn, args: string[], input = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("psql", [c.connection, "-X", "-v", "ON_ERROR_STOP=1", ...args], { env: { ...process.env, PGPASSWORD: c.password, PGCONNECT_TIMEOUT: "5" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input);
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The SQLSTATE and message a connection attempt fails with. */
async function refusal(cfg: pg.ClientConfig): Promise<{ code: string; message: string }> {
  const c = new pg.Client({ host: "127.0.0.1", port: pgPort, ssl: false, connectionTimeoutMillis: 5000, ...cfg });
  try {
    await c.connect();
    await c.end();
    return { code: "none", message: "connected" };
  } catch (err) {
    return { code: (err as { code?: string }).code ?? "", message: (err as Error).message };
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** A CA and a server certificate for 127.0.0.1 made with openssl, and another CA that did not sign it. */
async function makeServerCertificates(certs: string): Promise<void> {
  mkdirSync(certs, { recursive: true });
  const ssl = (args: string[]) => run("openssl", args, { cwd: certs });
  await ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test-ca", "-days", "1", "-keyout", "ca.key", "-out", "ca.crt"]);
  await ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=other-ca", "-days", "1", "-keyout", "other.key", "-out", "other.crt"]);
  await ssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]);
  writeFileSync(join(certs, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  await ssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.crt"]);
  // The server runs as the postgres user when the tests run as root, and wants its key private.
  const pw = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"))?.split(":");
  if (process.getuid?.() === 0 && pw) for (const f of ["server.key", "server.crt"]) chownSync(join(certs, f), Number(pw[2]), Number(pw[3]));
  chmodSync(join(certs, "server.key"), 0o600);
  chmodSync(certs, 0o755);
}

let certs = "";

beforeAll(async () => {
  cluster = await startPrivateCluster({ auth: "scram-sha-256", superuserPassword: SUPER });
  // Not under dir: the server (another user when run as root) must reach its files.
  certs = tempDir("jg-pg-certs");
  await makeServerCertificates(certs);
  await superQuery(`ALTER SYSTEM SET ssl_cert_file = '${join(certs, "server.crt")}'`);
  await superQuery(`ALTER SYSTEM SET ssl_key_file = '${join(certs, "server.key")}'`);
  await superQuery("ALTER SYSTEM SET ssl = on");
  await superQuery("SELECT pg_reload_conf()");
  await superQuery("CREATE ROLE app LOGIN PASSWORD 'app-password-in-the-vault'");
  await superQuery("CREATE ROLE jgadmin LOGIN CREATEROLE PASSWORD 'jgadmin-password-in-the-vault'");
  await superQuery("GRANT app TO jgadmin WITH ADMIN OPTION");
  await superQuery("CREATE DATABASE shop OWNER app");
  const shop = new pg.Client({ connectionString: cluster.url.replace(/\/postgres$/, "/shop") });
  await shop.connect();
  await shop.query("SET ROLE app");
  await shop.query("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)");
  await shop.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 5) g");
  await shop.end();
  gw = await startGateway({ dataDir: join(dir, "data"), adminPassword: admin.password, extraConfig: [
    `pg: { handshakeTimeout: 1500ms, upstreamTls: { db-verify: { mode: verify-full, ca: "${join(certs, "ca.crt")}" }, db-wrong-ca: { mode: verify-full, ca: "${join(certs, "other.crt")}" } } }`,
  ] });
  pgPort = gw.ports.postgres ?? 0;
  expect((await admin.login(gw)).code).toBe(0);
  writeFileSync(join(dir, "p.yaml"), `
policies:
  - name: dbs
    subjects: { roles: [admin] }
    targets: [db-1]
    logins: [app]
    maxDuration: 1h
    requireReason: false
    approvals: { count: 0 }
  - name: read-only
    subjects: { roles: [admin] }
    targets: [db-ro]
    logins: [app]
    maxDuration: 1h
    requireReason: false
    approvals: { count: 0 }
    session: { readOnly: true, statementTimeout: 1s }
  - name: other-dbs
    subjects: { roles: [admin] }
    targets: [db-verify, db-wrong-ca, db-eph]
    logins: [app, analyst]
    maxDuration: 1h
    requireReason: false
    approvals: { count: 0 }
`);
  await admin.ok(["policies", "apply", join(dir, "p.yaml")]);
  for (const t of ["db-1", "db-ro", "db-verify", "db-wrong-ca", "db-eph"]) {
    await admin.ok(["targets", "add", t, "--kind", "postgres", "--address", `127.0.0.1:${cluster.port}`]);
    if (t !== "db-eph") await admin.ok(["accounts", "add", t, "app", "--auth", "password", "--secret-stdin"], { input: "app-password-in-the-vault" });
  }
  await admin.ok(["accounts", "add", "db-eph", "jgadmin", "--auth", "password", "--secret-stdin"], { input: "jgadmin-password-in-the-vault" });
  await admin.ok(["accounts", "add", "db-eph", "analyst", "--auth", "ephemeral", "--option", "memberOf=app", "--option", "adminVia=jgadmin"]);
});

afterAll(async () => {
  await gw?.stop();
  await cluster?.stop();
  admin.cleanup();
  rmSync(dir, { recursive: true, force: true });
  rmSync(certs, { recursive: true, force: true });
});

describe("PostgreSQL through the gateway", () => {
  let conn: Conn;

  it("jitgate pg prints a connection that stock psql uses over TLS: \\d, several statements in one query, COPY out and \\copy in", async () => {
    await grantFor("db-1", "app");
    conn = await connection("db-1");
    expect(conn.connection).toContain("dbname=db-1/shop");
    expect(conn.connection).toContain("sslmode=verify-full");
    const d = await psql(conn, ["-c", "\\d items"]);
    expect(d.stderr).toBe("");
    expect(d.stdout).toMatch(/Table "public\.items"/);
    expect((await psql(conn, ["-c", "\\conninfo"])).stdout).toMatch(/SSL connection \(protocol: TLS/);
    const multi = await psql(conn, ["-At", "-c", "SELECT current_user; SELECT count(*) FROM items"]);
    expect(multi.stdout.trim().split("\n")).toEqual(["app", "5"]);
    const out = await psql(conn, ["-c", "COPY (SELECT id, name FROM items ORDER BY id) TO STDOUT"]);
    expect(out.stdout.split("\n")[0]).toBe("1\titem 1");
    const copyIn = await psql(conn, ["-c", "\\copy items FROM STDIN"], "10\tten\n11\televen\n\\.\n");
    expect(copyIn.stderr).toBe("");
    expect(copyIn.stdout.trim()).toBe("COPY 2");
    expect((await psql(conn, ["-At", "-c", "SELECT string_agg(name, ',' ORDER BY id) FROM items WHERE id > 5"])).stdout.trim()).toBe("ten,eleven");
  });

  it("the pg driver: parameters, prepared statements, errors at parse, bind and execute time", async () => {
    const c = client(conn);
    await c.connect();
    try {
      expect((await c.query("SELECT name FROM items WHERE id = $1", [3])).rows).toEqual([{ name: "item 3" }]);
      const named = { name: "by-id", text: "SELECT id, name FROM items WHERE id = ANY($1::int[]) ORDER BY id" };
      expect((await c.query({ ...named, values: [[1, 2]] })).rowCount).toBe(2);
      expect((await c.query({ ...named, values: [[10]] })).rows).toEqual([{ id: 10, name: "ten" }]);
      await expect(c.query("SELEC 1")).rejects.toMatchObject({ code: "42601" });
      await expect(c.query("SELECT $1::int", ["not a number"])).rejects.toMatchObject({ code: "22P02" });
      await expect(c.query("SELECT 1 / $1::int", [0])).rejects.toMatchObject({ code: "22012" });
      // The session is still in step after the errors.
      expect((await c.query("SELECT count(*)::int AS n FROM items")).rows).toEqual([{ n: 7 }]);
    } finally {
      await c.end();
    }
  });

  it("refuses a wrong token, and a client that names no target", async () => {
    expect(await refusal({ user: "admin", database: "db-1/shop", password: "jgpg_wrong" })).toMatchObject({ code: "28P01" });
    expect(await refusal({ user: "nobody", database: "db-1/shop", password: conn.password })).toMatchObject({ code: "28P01" });
    expect(await refusal({ user: "admin", database: "no such target!", password: conn.password })).toMatchObject({ code: "3D000" });
  });

  it("accepts a client certificate from the gateway's CA and refuses a forged one", async () => {
    const certDir = join(dir, "certs");
    const issued = await admin.ok<{ sslcert: string; sslkey: string; sslrootcert: string }>(["client-cert", "--out", certDir]);
    const base = `host=127.0.0.1 port=${pgPort} user=admin dbname=db-1/shop sslmode=verify-full sslrootcert=${issued.sslrootcert ?? join(certDir, "root.crt")}`;
    const good = await run("psql", [`${base} sslcert=${join(certDir, "client.crt")} sslkey=${join(certDir, "client.key")}`, "-XAtc", "SELECT current_user"], { env: { ...process.env, PGPASSWORD: "" } });
    expect(good.stdout.trim()).toBe("app");
    // A self-made certificate naming the same user, not signed by the gateway's CA.
    await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=admin", "-days", "1", "-keyout", join(certDir, "forged.key"), "-out", join(certDir, "forged.crt")]);
    const forged = await run("psql", [`${base} sslcert=${join(certDir, "forged.crt")} sslkey=${join(certDir, "forged.key")}`, "-XAtc", "SELECT 1"], { env: { ...process.env, PGPASSWORD: "" } }).catch((e: { stderr: string }) => e);
    expect(forged.stderr).toMatch(/client certificate refused/);
  });

  it("psql's Ctrl-C cancels pg_sleep on the server through the gateway's backend key", async () => {
    const child = spawn("psql", [conn.connection, "-X", "-c", "SELECT pg_sleep(30)"], { env: { ...process.env, PGPASSWORD: conn.password } });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitFor("the query to run", async () => (await sleeping()).length > 0);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(stderr).toMatch(/canceling statement due to user request/);
    expect(code).not.toBe(0);
    await waitFor("the backend to be idle", async () => (await sleeping()).length === 0, 2000);
  });

  it("a grant revoked during pg_sleep(30) ends the client within 100 ms and the server backend within 1 s", async () => {
    const c = client(conn);
    await c.connect();
    const gone = new Promise<{ at: number; err: { code?: string; message: string } }>((resolve) => {
      c.query("SELECT pg_sleep(30)").catch((err: Error) => resolve({ at: Date.now(), err }));
    });
    c.on("error", () => undefined);
    await waitFor("the query to run", async () => (await sleeping()).length > 0);
    const revoked = await admin.ok<{ endReason: string }>(["revoke", conn.grantId]);
    const revokedAt = Date.now();
    expect(revoked.endReason).toBe("revoked");
    const end = await gone;
    expect(end.at - revokedAt).toBeLessThan(100);
    expect(end.err.message).toContain(`jitgate: grant ${conn.grantId} revoked`);
    const deadline = revokedAt + 1000;
    await waitFor("the backend to end", async () => (await sleeping()).length === 0, 1000);
    expect(Date.now()).toBeLessThanOrEqual(deadline + 50);
    await c.end().catch(() => undefined);
    // Reconnecting with the ended grant's token names the reason.
    expect(await refusal({ user: "admin", database: "db-1/shop", password: conn.password })).toMatchObject({ code: "28000", message: expect.stringContaining(`grant ${conn.grantId} revoked`) });
  });

  it("refuses an expired grant's token, naming the expiry", async () => {
    const id = await grantFor("db-1", "app", "5s");
    const c = await admin.ok<Conn & { notAfter: string }>(["pg", "db-1", "--db", "shop", "--port", String(pgPort)]);
    expect(c.grantId).toBe(id);
    await new Promise((r) => setTimeout(r, Date.parse(c.notAfter) - Date.now() + 200));
    expect(await refusal({ user: "admin", database: "db-1/shop", password: c.password })).toMatchObject({ code: "28000", message: expect.stringContaining(`grant ${id} expired`) });
  });

  it("read-only grants cannot write or leave read-only mode, and have the policy's statement timeout", async () => {
    await grantFor("db-ro", "app");
    const ro = await connection("db-ro");
    const c = client(ro, { database: "db-ro/shop" });
    await c.connect();
    c.on("error", () => undefined);
    try {
      expect((await c.query("SHOW statement_timeout")).rows).toEqual([{ statement_timeout: "1s" }]);
      await expect(c.query("INSERT INTO items VALUES (99, 'no')")).rejects.toMatchObject({ code: "25006" });
      await expect(c.query("SELECT pg_sleep(3)")).rejects.toMatchObject({ code: "57014" });
      await expect(c.query("SET default_transaction_read_only = off")).rejects.toMatchObject({ message: expect.stringContaining("read-only grant") });
    } finally {
      await c.end().catch(() => undefined);
    }
    const again = client(ro, { database: "db-ro/shop" });
    await again.connect();
    again.on("error", () => undefined);
    await expect(again.query("BEGIN READ WRITE")).rejects.toMatchObject({ message: expect.stringContaining("read-only grant") });
    await again.end().catch(() => undefined);
    expect(await refusal({ user: "admin", database: "db-ro/shop", password: ro.password, options: "-c default_transaction_read_only=off" } as pg.ClientConfig)).toMatchObject({ code: "42501" });
  });
});

describe("recording", () => {
  it("every statement of a session appears in its recording with its outcome", async () => {
    await grantFor("db-1", "app");
    const c = await connection("db-1");
    const cl = client(c);
    await cl.connect();
    await cl.query("SELECT id FROM items WHERE id = $1", [2]);
    await cl.query("SELECT 1; SELECT 2");
    await cl.query("SELEC $1", [1]).catch(() => undefined);
    await cl.end();
    const events = await waitForValue("the recorded statements", async () => {
      const sessions = await admin.ok<{ id: string; protocol: string; grantId: string; endedAt: string | null }[]>(["sessions", "--limit", "50"]);
      const mine = sessions.find((x) => x.grantId === c.grantId && x.protocol === "postgres" && x.endedAt !== null);
      if (!mine) return null;
      const page = await api<{ events: { kind: string; sql?: { text: string; params: unknown; tag: string | null; rows: number | null; sqlstate: string | null; stage: string | null } }[] }>(`/api/v1/sessions/${mine.id}/events?limit=1000`);
      const sql = page.events.filter((e) => e.kind === "sql").map((e) => e.sql);
      return sql.length >= 4 ? sql : null;
    });
    expect(events.map((e) => [e?.text, e?.params, e?.tag, e?.rows, e?.sqlstate, e?.stage])).toEqual([
      ["SELECT id FROM items WHERE id = $1", ["2"], "SELECT 1", 1, null, null],
      ["SELECT 1", null, "SELECT 1", 1, null, null],
      ["SELECT 2", null, "SELECT 1", 1, null, null],
      ["SELEC $1", null, null, null, "42601", "parse"],
    ]);
  });
});

describe("upstream logins", () => {
  async function whoAndTls(target: string, login = "app"): Promise<{ user: string; ssl: boolean } | { code: string; message: string }> {
    await grantFor(target, login);
    const c = await connection(target);
    const cl = client(c, { database: `${target}/shop` });
    try {
      await cl.connect();
    } catch (err) {
      return { code: (err as { code?: string }).code ?? "", message: (err as Error).message };
    }
    try {
      const r = await cl.query<{ user: string; ssl: boolean }>("SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
      await cl.query("SELECT count(*) FROM items");
      return r.rows[0] as { user: string; ssl: boolean };
    } finally {
      await cl.end();
    }
  }

  it("uses TLS when the target offers it, verifies it when configured, and refuses a certificate from another CA", async () => {
    const v = await whoAndTls("db-verify");
    expect(v).toEqual({ user: "app", ssl: true });
    expect(await whoAndTls("db-wrong-ca")).toMatchObject({ code: "08006", message: expect.stringMatching(/cannot reach the target.*TLS/) });
  });

  it("logs in as the grant's ephemeral role", async () => {
    // The role is made when the grant is scheduled; the first connection may beat it.
    let got: Awaited<ReturnType<typeof whoAndTls>> | null = null;
    await grantFor("db-eph", "analyst");
    await waitFor("the ephemeral role", async () => {
      const c = await connection("db-eph");
      const cl = client(c, { database: "db-eph/shop" });
      try {
        await cl.connect();
        got = (await cl.query<{ user: string; ssl: boolean }>("SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0] ?? null;
        return true;
      } catch {
        return false;
      } finally {
        await cl.end().catch(() => undefined);
      }
    });
    expect(got).toMatchObject({ user: expect.stringMatching(/^jg_admin_[0-9a-f]{12}$/), ssl: true });
  });
});

describe("bad input from clients", () => {
  let healthy: pg.Client;
  let token: Conn;

  beforeAll(async () => {
    await grantFor("db-1", "app");
    token = await connection("db-1");
    healthy = client(token);
    await healthy.connect();
  });

  afterAll(async () => {
    await healthy?.end().catch(() => undefined);
  });

  /** Sends raw bytes and collects what comes back until the gateway closes the connection. */
  function exchange(chunks: Buffer[], opts: { waitMs?: number } = {}): Promise<{ data: Buffer; closed: boolean; ms: number }> {
    return new Promise((resolve) => {
      const start = Date.now();
      const s: Socket = connect(pgPort, "127.0.0.1");
      const got: Buffer[] = [];
      s.on("data", (d: Buffer) => got.push(d));
      s.on("error", () => undefined);
      s.on("connect", () => {
        for (const c of chunks) s.write(c);
      });
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ data: Buffer.concat(got), closed: false, ms: Date.now() - start });
      }, opts.waitMs ?? 4000);
      s.on("close", () => {
        clearTimeout(timer);
        resolve({ data: Buffer.concat(got), closed: true, ms: Date.now() - start });
      });
    });
  }

  const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  const startup = (version: number, pairs: string[]) => {
    const body = Buffer.concat([int32(version), ...pairs.map((p) => Buffer.from(`${p}\0`)), Buffer.from([0])]);
    return Buffer.concat([int32(body.length + 4), body]);
  };
  const errorText = (data: Buffer) => {
    const at = data.indexOf(0x45);
    return at < 0 ? "" : data.subarray(at).toString("latin1");
  };

  it("answers garbage, lies and stalls with an error (or a close) and keeps other sessions going", async () => {
    const cases: { name: string; chunks: Buffer[]; expect: RegExp }[] = [
      { name: "length under 8", chunks: [Buffer.from([0, 0, 0, 3, 0, 0, 0, 0])], expect: /invalid message length/ },
      { name: "oversized startup", chunks: [int32(1 << 24), int32(196608)], expect: /over the limit/ },
      { name: "protocol 2.0", chunks: [startup(0x20000, ["user", "admin", "database", "db-1"])], expect: /unsupported frontend protocol 2\.0/ },
      { name: "garbage parameter", chunks: [startup(196608, ["us\u0001er", "x", "database", "db-1"])], expect: /is not valid/ },
      { name: "no value", chunks: [Buffer.concat([int32(18), int32(196608), Buffer.from("user\0admin")])], expect: /truncated|does not end/ },
      { name: "no user", chunks: [startup(196608, ["database", "db-1/shop"])], expect: /no user name/ },
      { name: "replication", chunks: [startup(196608, ["user", "admin", "database", "db-1", "replication", "true"])], expect: /replication/ },
      { name: "TLS twice", chunks: [Buffer.concat([int32(8), int32(80877103)]), Buffer.concat([int32(8), int32(80877103)])], expect: /before the TLS handshake|TLS/ },
    ];
    for (const c of cases) {
      const r = await exchange(c.chunks);
      expect(r.closed, c.name).toBe(true);
      if (c.name !== "TLS twice") expect(errorText(r.data), c.name).toMatch(c.expect);
    }
    // A length that lies (more bytes promised than sent) is a stall: cut at the handshake timeout.
    const lie = await exchange([int32(100), int32(196608), Buffer.from("user\0admin\0")]);
    expect(lie.closed).toBe(true);
    expect(lie.ms).toBeGreaterThanOrEqual(1400);
    expect(errorText(lie.data)).toMatch(/did not send a complete message within 1500 ms/);
    // A bad message length after login is refused the same way.
    const c2 = client(token);
    await c2.connect();
    c2.on("error", () => undefined);
    const ended = new Promise<void>((r) => c2.once("end", () => r()));
    (c2 as unknown as { connection: { stream: Socket } }).connection.stream.write(Buffer.from([0x51, 0, 0, 0, 1]));
    await ended;
    expect((await healthy.query("SELECT count(*)::int AS n FROM items")).rows).toEqual([{ n: 7 }]);
    expect(gw.stderr()).toMatch(/postgres connection refused.*unsupported frontend protocol 2\.0/);
    expect(gw.stderr()).toMatch(/postgres session input refused.*invalid message from the client/);
  });

  it("answers a protocol 3.2 request with NegotiateProtocolVersion and carries on in 3.0", async () => {
    const r = await exchange([startup(0x30002, ["user", "admin", "database", "db-1/shop", "_pq_.something", "1"])], { waitMs: 500 });
    expect(String.fromCharCode(r.data[0] ?? 0)).toBe("v");
    expect(r.data.readInt32BE(5)).toBe(0);
    expect(r.data.toString("latin1")).toContain("_pq_.something");
    const next = 1 + r.data.readInt32BE(1);
    expect(String.fromCharCode(r.data[next] ?? 0)).toBe("R");
    expect(r.data.toString("latin1", next + 9)).toContain("SCRAM-SHA-256");
  });

  it("says N to GSSAPI encryption and goes on", async () => {
    const r = await exchange([Buffer.concat([int32(8), int32(80877104)]), startup(196608, ["user", "admin", "database", "db-1/shop"])], { waitMs: 500 });
    expect(r.data.toString("latin1", 0, 2)).toBe("NR");
  });
});

/** Calls the control API as admin, with the token the CLI keeps. */
async function api<T>(path: string): Promise<T> {
  const profile = JSON.parse(readFileSync(join(admin.home, "profile.json"), "utf8")) as { server: string; token: string; ca: string };
  const res = await undiciFetch(`${profile.server}${path}`, { headers: { authorization: `Bearer ${profile.token}` }, dispatcher: new Agent({ connect: { ca: profile.ca } }) });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function waitForValue<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function sleeping(): Promise<{ pid: number }[]> {
  return superQuery("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()");
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
