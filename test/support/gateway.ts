// Runs the built `jitgate` program for end-to-end tests: `serve` as a child process, and
// one CLI call per command, each with its own JITGATE_HOME like separate people's shells.
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const MAIN = resolve(import.meta.dirname, "../../dist/gateway/cli/main.js");

function requireBuild(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first (npm test does)`);
}

export interface GatewayProcess {
  url: string;
  /** Bound ports of the protocol engines by name (ssh, postgres, http); each test gateway takes free ones. */
  ports: Record<string, number>;
  caPath: string;
  dataDir: string;
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  dataDir?: string;
  databaseUrl?: string | null;
  adminPassword?: string | null;
  sweepInterval?: string;
  /** A fixed port, so a restarted gateway is where the CLI profiles expect it. */
  apiPort?: number;
  /** Extra environment for the gateway process (JITGATE_VAULT_PASSPHRASE, ...). */
  env?: Record<string, string>;
  /** Fixed engine ports (default: any free port). */
  sshPort?: number;
  pgPort?: number;
  httpPort?: number;
  /** More lines for the config file, e.g. `vault: { rotationCheckInterval: 1s }`. */
  extraConfig?: string[];
  /** Starts on an empty data directory, exactly as a first install does (PGlite's initdb included). */
  pristine?: boolean;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => res(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export async function startGateway(o: GatewayOptions = {}): Promise<GatewayProcess> {
  requireBuild();
  const dataDir = o.dataDir ?? tempDir("jg-data");
  // A new embedded store starts as a copy of the migrated one global setup made: PGlite's
  // initdb would add seconds to every first start. Restarts keep what they have.
  const template = process.env.JITGATE_TEST_PGLITE_TEMPLATE;
  if (!o.databaseUrl && !o.pristine && template && !existsSync(join(dataDir, "pg"))) cpSync(template, join(dataDir, "pg"), { recursive: true });
  const config = join(dataDir, "..", `${dataDir.split("/").pop()}-config.yaml`);
  writeFileSync(config, [
    o.databaseUrl ? `database: { url: "${o.databaseUrl}" }` : "",
    `expiry: { sweepInterval: ${o.sweepInterval ?? "1s"} }`,
    "log: { level: warn }",
    ...(o.extraConfig ?? []),
  ].join("\n"));
  const env: NodeJS.ProcessEnv = { ...process.env, JITGATE_DATABASE_URL: "", JITGATE_VAULT_PASSPHRASE: "", ...o.env };
  if (o.adminPassword) env.JITGATE_ADMIN_PASSWORD = o.adminPassword;
  else delete env.JITGATE_ADMIN_PASSWORD;
  const child: ChildProcess = spawn(process.execPath, [MAIN, "serve", "--data", dataDir, "--api-port", String(o.apiPort ?? 0), "--host", "127.0.0.1", "--config", config,
    "--ssh-port", String(o.sshPort ?? 0), "--pg-port", String(o.pgPort ?? 0), "--http-port", String(o.httpPort ?? 0)], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`gateway did not start in 60s\nstdout: ${out}\nstderr: ${err}`)), 60_000);
    const check = () => {
      const m = /API on (https:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        res(m[1]);
      }
    };
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`gateway exited with ${code} before it was ready\nstdout: ${out}\nstderr: ${err}`));
    });
  });
  const ports: Record<string, number> = {};
  for (const m of out.matchAll(/^(\w+) on 127\.0\.0\.1:(\d+)$/gm)) ports[m[1] ?? ""] = Number(m[2]);
  return {
    url,
    ports,
    caPath: join(dataDir, "ca.pem"),
    dataDir,
    stdout: () => out,
    stderr: () => err,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
        child.once("exit", () => {
          clearTimeout(kill);
          res();
        });
        child.kill("SIGTERM");
      }),
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = unknown>(): T;
}

/** Runs one CLI command as the person whose JITGATE_HOME is `home`. */
export function cli(home: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<CliResult> {
  requireBuild();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { ...process.env, JITGATE_HOME: home, JITGATE_PASSWORD: "", JITGATE_NEW_PASSWORD: "", ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", rej);
    child.stdin.end(opts.input ?? "");
    child.on("exit", (code) =>
      res({
        code: code ?? -1,
        stdout,
        stderr,
        json<T>() {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`not JSON (exit ${code}):\nstdout: ${stdout}\nstderr: ${stderr}`);
          }
        },
      }),
    );
  });
}

/** A person with their own CLI profile. */
export class Person {
  readonly home = tempDir("jg-home");
  constructor(
    readonly name: string,
    public password: string,
  ) {}

  run(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<CliResult> {
    return cli(this.home, args, opts);
  }

  async login(gw: GatewayProcess): Promise<CliResult> {
    return this.run(["login", "--server", gw.url, "--user", this.name, "--ca", gw.caPath], { env: { JITGATE_PASSWORD: this.password } });
  }

  /** Runs a command that must succeed, returning its --json output. */
  async ok<T = unknown>(args: string[], opts: { input?: string } = {}): Promise<T> {
    const r = await this.run([...args, "--json"], opts);
    if (r.code !== 0) throw new Error(`jitgate ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim() ? r.json<T>() : (undefined as T);
  }

  /** Runs a command that must fail, returning its error code and exit code. */
  async fails(args: string[], opts: { input?: string } = {}): Promise<{ exit: number; code: string; message: string }> {
    const r = await this.run([...args, "--json"], opts);
    if (r.code === 0) throw new Error(`jitgate ${args.join(" ")} succeeded but should have failed: ${r.stdout}`);
    const parsed = JSON.parse(r.stderr.trim().split("\n").pop() ?? "{}") as { error: { code: string; message: string } };
    return { exit: r.code, ...parsed.error };
  }

  cleanup(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}
