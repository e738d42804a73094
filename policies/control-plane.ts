// Assembles the control plane's services from what the gateway provides.
import { AuditLog } from "./audit-log.js";
import { AuthService } from "./auth.js";
import type { ControlDeps } from "./context.js";
import { ExpiryClock } from "./expiry-clock.js";
import { GrantService } from "./grants.js";
import { InventoryService } from "./inventory.js";
import { generatePassword } from "./passwords.js";
import { PolicyStore } from "./policy-store.js";
import type { Clock, EventBus, Logger, SqlClient } from "./ports.js";
import { RequestService } from "./requests.js";
import type { ThrottlePolicy } from "./throttle.js";
import { TokenService } from "./tokens.js";
import { UserService } from "./users.js";

export interface ControlPlaneOptions {
  /** Lifetime of a login token. */
  sessionTtlMs: number;
  sweepIntervalMs: number;
  throttle?: ThrottlePolicy;
}

export type ControlPlane = ReturnType<typeof createControlPlane>;

export function createControlPlane(io: { sql: SqlClient; clock: Clock; bus: EventBus; logger: Logger }, opts: ControlPlaneOptions) {
  const audit = new AuditLog({ sql: io.sql, clock: io.clock });
  const deps: ControlDeps = { ...io, audit };
  const users = new UserService(deps);
  const tokens = new TokenService(deps);
  const policies = new PolicyStore(deps);
  const requests = new RequestService(deps, policies);
  const grants = new GrantService(deps);
  return {
    deps,
    audit,
    users,
    tokens,
    auth: new AuthService(deps, tokens, opts.sessionTtlMs, opts.throttle),
    inventory: new InventoryService(deps),
    policies,
    requests,
    grants,
    expiry: new ExpiryClock(deps, { sweepIntervalMs: opts.sweepIntervalMs, onSweep: () => requests.expireDue() }),
  };
}

/**
 * On the first start there is nobody to log in as: create `admin`, with the given
 * password or a generated one that must be changed at first login.
 */
export async function ensureAdmin(cp: ControlPlane, password: string | null): Promise<{ created: false } | { created: true; oneTimePassword: string | null }> {
  // Serialise across nodes starting together on one database.
  return cp.deps.sql.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(7261534800002)");
    const rows = await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM users");
    if ((rows[0]?.n ?? 0) > 0) return { created: false } as const;
    const given = password || null;
    const oneTime = given ? null : generatePassword();
    await cp.users.create("system", { name: "admin", roles: ["admin"], password: given ?? oneTime, mustChangePassword: given === null }, tx);
    return { created: true, oneTimePassword: oneTime } as const;
  });
}
