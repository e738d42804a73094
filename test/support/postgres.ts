// Real PostgreSQL for tests: throwaway databases on the server that global-setup found or
// started, and private clusters for tests that need a server of their own (password auth).
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { inject } from "vitest";

const run = promisify(execFile);

/** The admin URL of the test server (a superuser on its `postgres` database). */
export function pgAdminUrl(): string {
  let provided: string | undefined;
  try {
    provided = inject("pgAdminUrl");
  } catch {
    // Not inside a vitest worker: fall back to the environment.
  }
  const url = provided ?? process.env.JITGATE_TEST_PG_URL;
  if (!url) throw new Error("no test PostgreSQL: run under vitest (test/support/global-setup.ts) or set JITGATE_TEST_PG_URL");
  return url;
}

async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an empty database with a unique name; drop() removes it even if still in use. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 40);
  const name = `${base}_${randomBytes(6).toString("hex")}`;
  const adminUrl = pgAdminUrl();
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

export interface PrivateCluster {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface PrivateClusterOptions {
  auth: "trust" | "scram-sha-256";
  superuserPassword?: string;
}

/** The newest PostgreSQL server binaries installed by Debian's packages, or null. */
export async function findPgBinDir(): Promise<string | null> {
  const root = "/usr/lib/postgresql";
  const versions = await readdir(root).catch(() => [] as string[]);
  for (const v of versions.sort((a, b) => Number(b) - Number(a))) {
    const bin = join(root, v, "bin");
    const found = await readdir(bin).catch(() => [] as string[]);
    if (found.includes("initdb") && found.includes("pg_ctl")) return bin;
  }
  return null;
}

// initdb and postgres refuse to run as root; as root they run as the `postgres` user.
function postgresIds(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) throw new Error("running as root, but there is no `postgres` user to run PostgreSQL as");
  return { uid: Number(uid), gid: Number(gid) };
}

function asPostgres(ids: { uid: number } | null, file: string, args: string[]): [string, string[]] {
  return ids ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

const running = new Set<() => void>();
process.once("exit", () => {
  for (const stopNow of running) stopNow();
});

/** Starts a throwaway PostgreSQL on a free loopback port; stop() removes every trace. */
export async function startPrivateCluster(opts: PrivateClusterOptions): Promise<PrivateCluster> {
  const bin = await findPgBinDir();
  if (!bin) {
    throw new Error(
      "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: install the `postgresql` package " +
        "(apt-get install -y postgresql) or point JITGATE_TEST_PG_URL at a server",
    );
  }
  if (opts.auth !== "trust" && !opts.superuserPassword) throw new Error(`${opts.auth} needs a superuserPassword`);
  const ids = postgresIds();
  const dir = await mkdtemp(join(tmpdir(), "jitgate-pg-"));
  const data = join(dir, "data");
  const exec = (tool: string, args: string[]) => run(...asPostgres(ids, join(bin, tool), args));
  let port = 0;
  let started = false;
  const stopNow = () => {
    if (started) spawnSync(...asPostgres(ids, join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]));
    rmSync(dir, { recursive: true, force: true });
  };
  running.add(stopNow);
  try {
    if (ids) await chown(dir, ids.uid, ids.gid);
    const initdb = ["-D", data, "-U", "postgres", `--auth=${opts.auth}`, "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C"];
    if (opts.superuserPassword) {
      const pwfile = join(dir, "pw");
      await writeFile(pwfile, `${opts.superuserPassword}\n`, { mode: 0o600 });
      if (ids) await chown(pwfile, ids.uid, ids.gid);
      initdb.push(`--pwfile=${pwfile}`);
    }
    await exec("initdb", initdb);
    await rm(join(dir, "pw"), { force: true });
    // A free port can be taken between the probe and the bind: try a few.
    for (let attempt = 1; !started; attempt++) {
      port = await freePort();
      const settings = `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
      try {
        await exec("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-w", "-t", "30", "-o", settings, "start"]);
        started = true;
      } catch (err) {
        if (attempt >= 3) {
          const log = await readFile(join(dir, "log"), "utf8").catch(() => "");
          throw new Error(`private PostgreSQL did not start: ${(err as Error).message}\n${log.slice(-2000)}`, { cause: err });
        }
      }
    }
  } catch (err) {
    running.delete(stopNow);
    stopNow();
    throw err;
  }
  const password = opts.superuserPassword ? `:${encodeURIComponent(opts.superuserPassword)}` : "";
  let stopped = false;
  return {
    url: `postgres://postgres${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      running.delete(stopNow);
      try {
        await exec("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** True when url accepts a connection and answers a query. */
export async function acceptsConnections(url: string, timeoutMs = 3_000): Promise<boolean> {
  try {
    await admin(url, (c) => c.query("SELECT 1"), timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** Runs one statement on the server at url. */
export async function runSql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** Logs in with a password on loopback: true, or the SQLSTATE (28P01 for a wrong password). */
export async function passwordLogin(port: number, user: string, password: string): Promise<true | string> {
  const c = new pg.Client({ host: "127.0.0.1", port, user, password, database: "postgres", connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    await c.query("SELECT 1");
    return true;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await c.end().catch(() => undefined);
  }
}
