// Ephemeral PostgreSQL accounts follow their grants: a role is made when a grant on an
// `ephemeral` account is scheduled (valid until the grant's end, member of the account's
// `memberOf` roles, its password kept in the vault for the engine), and dropped, its
// sessions killed first, when the grant ends. Roles left by a crash are dropped at start.
import type { Account, ControlPlane, GrantChangedEvent, GrantEndedEvent, Logger } from "../../policies/index.js";
import { EphemeralRoles, type EphemeralPlace, type SecretStore } from "../../vault/index.js";
import { secretName } from "./account-secrets.js";

export const ephemeralSecretName = (grantId: string) => `ephemeral/${grantId}`;

export class EphemeralGrants {
  private readonly unsubscribe: (() => void)[] = [];
  /** One chain of work per grant, so a quick end never overtakes the creation. */
  private readonly chains = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly cp: ControlPlane,
    private readonly secrets: SecretStore,
    private readonly logger: Logger,
    private readonly roles = new EphemeralRoles(),
  ) {}

  start(): void {
    this.unsubscribe.push(
      this.cp.deps.bus.subscribe("grant.scheduled", (e) => this.enqueue(e.grantId, () => this.ensure(e))),
      this.cp.deps.bus.subscribe("grant.ended", (e) => this.enqueue(e.grantId, () => this.end(e))),
    );
    void this.dropOrphans();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubscribe) u();
    await Promise.allSettled([...this.chains.values()]);
  }

  private enqueue(grantId: string, work: () => Promise<void>): void {
    if (this.stopped) return;
    const next = (this.chains.get(grantId) ?? Promise.resolve())
      .then(work)
      .catch((err: unknown) => this.logger.error("ephemeral account step failed", { grantId, err: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        if (this.chains.get(grantId) === next) this.chains.delete(grantId);
      });
    this.chains.set(grantId, next);
  }

  private async ephemeralAccount(targetName: string, login: string): Promise<Account | null> {
    const account = await this.cp.inventory.getAccount(targetName, login).catch(() => null);
    return account?.auth === "ephemeral" ? account : null;
  }

  /** Where to make the role, and as whom: the account named by its `adminVia` option. */
  private async place(account: Account): Promise<EphemeralPlace> {
    const target = await this.cp.inventory.getTarget(account.targetName);
    const via = typeof account.options.adminVia === "string" ? account.options.adminVia : null;
    if (!via) throw new Error(`ephemeral account ${account.login}@${account.targetName} has no adminVia option naming the account that creates roles`);
    const database = typeof account.options.database === "string" ? account.options.database : "postgres";
    return { target: { host: target.host, port: target.port, database }, admin: { login: via, password: await this.secrets.current(secretName(account.targetName, via)) } };
  }

  private async ensure(e: GrantChangedEvent): Promise<void> {
    const account = await this.ephemeralAccount(e.targetName, e.login);
    if (!account) return;
    const at = await this.place(account);
    try {
      const memberOf = typeof account.options.memberOf === "string" ? account.options.memberOf.split(/[;\s]+/).filter(Boolean) : [];
      const made = await this.roles.create(at, { grantId: e.grantId, userName: e.userName, memberOf, validUntil: new Date(e.notAfter) });
      try {
        await this.secrets.put(ephemeralSecretName(e.grantId), "password", made.password, "system", `role ${made.role} for grant ${e.grantId}`);
      } finally {
        made.password.fill(0);
      }
      this.logger.info("ephemeral role ready", { grantId: e.grantId, role: made.role, target: e.targetName, validUntil: e.notAfter });
    } finally {
      at.admin.password.fill(0);
    }
  }

  private async end(e: GrantEndedEvent): Promise<void> {
    const account = await this.ephemeralAccount(e.targetName, e.login);
    if (!account) return;
    const at = await this.place(account);
    try {
      const r = await this.roles.drop(at, { grantId: e.grantId, userName: e.userName });
      if (r.dropped) this.logger.info("ephemeral role dropped", { grantId: e.grantId, target: e.targetName, sessionsEnded: r.terminated });
    } finally {
      at.admin.password.fill(0);
    }
  }

  /** Drops roles whose grants are no longer open, on every target with an ephemeral account. */
  async dropOrphans(): Promise<void> {
    try {
      const accounts = (await this.cp.inventory.listAccounts()).filter((a) => a.auth === "ephemeral");
      const open = await this.cp.grants.openIds();
      const seen = new Set<string>();
      for (const account of accounts) {
        const at = await this.place(account).catch((err: unknown) => {
          this.logger.warn("cannot check ephemeral roles", { target: account.targetName, err: String(err instanceof Error ? err.message : err) });
          return null;
        });
        if (!at) continue;
        const key = `${at.target.host}:${at.target.port}/${at.target.database}`;
        try {
          if (seen.has(key)) continue;
          seen.add(key);
          const r = await this.roles.dropOrphans(at, open);
          for (const d of r.dropped) this.logger.info("dropped an ephemeral role left behind", { role: d.role, grantId: d.grantId, target: account.targetName });
          for (const f of r.failed) this.logger.error("could not drop an ephemeral role left behind", { role: f.orphan.role, err: f.error.message });
        } finally {
          at.admin.password.fill(0);
        }
      }
    } catch (err) {
      this.logger.error("ephemeral role clean-up failed", { err: err instanceof Error ? err.message : String(err) });
    }
  }
}
