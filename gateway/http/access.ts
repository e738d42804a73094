// Who is asking and whether they may reach a target right now. Every request is checked;
// what the check reads is kept in memory and dropped the moment the bus says a grant
// ended, changed, or its user changed, and re-read from the database at least every
// RECHECK_MS as the safety net for a missed message. A grant past its notAfter is never
// used, whatever the memory says.
import { secretName } from "../vault/account-secrets.js";
import type { LiveGrant, User } from "../../policies/index.js";
import { HttpError } from "../api/http-errors.js";
import type { EngineContext } from "../engine.js";
import { injectionFor, parseAccountOptions, type AccountHttpOptions, type Injection } from "./injection.js";

export const RECHECK_MS = 2_000;
const MAX_ENTRIES = 10_000;

export interface Access {
  grant: LiveGrant;
  options: AccountHttpOptions;
  injection: Injection;
}

export interface EndedGrant {
  grantId: string;
  reason: string;
}

interface Cached<T> {
  value: T;
  checkedAt: number;
}

/** Why a signed-in user may not reach a target, with what to ask for. */
export class NoGrantError extends HttpError {
  constructor(
    readonly target: string,
    readonly logins: string[],
    readonly ended: EndedGrant | null,
  ) {
    super(
      403,
      ended ? "GRANT_ENDED" : "NO_GRANT",
      ended
        ? `your grant ${ended.grantId} on ${target} ended (${ended.reason}); request a new one: ${requestCommand(target, logins)}`
        : `you hold no live grant on ${target}; request one: ${requestCommand(target, logins)}`,
    );
  }
}

export const requestCommand = (target: string, logins: string[]) =>
  `jitgate request ${target} --login ${logins.length === 1 ? logins[0] : logins.length > 1 ? `{${logins.join("|")}}` : "LOGIN"} --for 30m --reason "..."`;

export class HttpAccess {
  private readonly users = new Map<string, Cached<User>>();
  private readonly grants = new Map<string, Cached<Access>>();
  private readonly pending = new Map<string, Promise<Access | null>>();
  private readonly ended = new Map<string, EndedGrant>();
  private readonly unsubscribe: (() => void)[];

  constructor(private readonly ctx: EngineContext) {
    const bus = ctx.cp.deps.bus;
    this.unsubscribe = [
      bus.subscribe("grant.ended", (e) => {
        this.dropGrant(e.grantId);
        this.ended.set(key(e.userName, e.targetName), { grantId: e.grantId, reason: e.reason });
        if (this.ended.size > MAX_ENTRIES) this.ended.delete(this.ended.keys().next().value as string);
      }),
      bus.subscribe("grant.scheduled", (e) => {
        this.grants.delete(key(e.userName, e.targetName));
        this.pending.delete(key(e.userName, e.targetName));
      }),
      bus.subscribe("user.changed", (e) => this.dropUser(e.userName)),
    ];
  }

  private now(): number {
    return this.ctx.cp.deps.clock.now();
  }

  /**
   * The user of a token checked less than RECHECK_MS ago, else null (then ask user()). Most
   * requests end here: without a promise, a request costs a few microseconds less.
   */
  cachedUser(token: string): User | null {
    const hit = this.users.get(token);
    return hit && this.now() - hit.checkedAt < RECHECK_MS ? hit.value : null;
  }

  /** The user a gateway token belongs to; a 401-kind error when it is not valid. */
  async user(token: string): Promise<User> {
    const hit = this.cachedUser(token);
    if (hit) return hit;
    this.users.delete(token);
    const { user } = await this.ctx.cp.tokens.resolve(token);
    if (this.users.size >= MAX_ENTRIES) this.users.clear();
    this.users.set(token, { value: user, checkedAt: this.now() });
    return user;
  }

  forgetToken(token: string): void {
    this.users.delete(token);
  }

  /** The live grant of this user on this target, when it was read less than RECHECK_MS ago, else null (then ask require()). */
  cachedAccess(user: string, target: string): Access | null {
    const hit = this.grants.get(key(user, target));
    const now = this.now();
    return hit && hit.value.grant.notAfter.getTime() > now && now - hit.checkedAt < RECHECK_MS ? hit.value : null;
  }

  /** The live grant of this user on this target at this instant, or a NoGrantError. */
  async require(user: string, target: string): Promise<Access> {
    const hit = this.cachedAccess(user, target);
    if (hit) return hit;
    const k = key(user, target);
    this.grants.delete(k);
    let p = this.pending.get(k);
    if (!p) {
      p = this.lookup(user, target).finally(() => this.pending.delete(k));
      this.pending.set(k, p);
    }
    const found = await p;
    if (found && found.grant.notAfter.getTime() > this.now()) return found;
    throw new NoGrantError(target, await this.logins(target), this.ended.get(k) ?? null);
  }

  private async lookup(user: string, target: string): Promise<Access | null> {
    const t = await this.ctx.cp.inventory.getTarget(target).catch(() => null);
    if (!t || t.kind !== "http") throw new HttpError(404, "TARGET_NOT_FOUND", `there is no web target named ${target}; list them with: jitgate targets`);
    const accounts = await this.ctx.cp.inventory.listAccounts(target);
    const live = (await Promise.all(accounts.map((a) => this.ctx.cp.grants.findLive(user, target, a.login)))).filter((g): g is LiveGrant => g !== null);
    // Several logins at once: the grant that lasts longest speaks for the user.
    const grant = live.sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime())[0];
    // The grant may have ended while this read was under way: the bus said so first.
    if (!grant || this.ended.get(key(user, target))?.grantId === grant.grantId) return null;
    const account = accounts.find((a) => a.login === grant.login);
    const options = parseAccountOptions(target, grant.login, account?.options ?? {});
    let secret: string;
    try {
      const value = await this.ctx.svc.secrets.current(secretName(target, grant.login));
      secret = value.toString("utf8");
      value.fill(0);
    } catch {
      throw new HttpError(502, "SECRET_NOT_STORED", `the gateway holds no password for ${grant.login} on ${target}: ask an admin to run jitgate accounts set-secret ${target} ${grant.login} --secret-stdin`);
    }
    const access: Access = { grant, options, injection: injectionFor(options, grant.login, secret) };
    if (this.ended.get(key(user, target))?.grantId === grant.grantId) return null;
    if (this.grants.size >= MAX_ENTRIES) this.grants.clear();
    this.grants.set(key(user, target), { value: access, checkedAt: this.now() });
    return access;
  }

  private async logins(target: string): Promise<string[]> {
    return (await this.ctx.cp.inventory.listAccounts(target).catch(() => [])).map((a) => a.login);
  }

  /** The end of a grant this node saw, for the "grant ended" page. */
  endedGrant(user: string, target: string): EndedGrant | null {
    return this.ended.get(key(user, target)) ?? null;
  }

  private dropGrant(grantId: string): void {
    for (const [k, v] of this.grants) if (v.value.grant.grantId === grantId) this.grants.delete(k);
  }

  private dropUser(userName: string): void {
    for (const [k, v] of this.users) if (v.value.name === userName) this.users.delete(k);
    for (const k of this.grants.keys()) if (k.startsWith(`${userName}\0`)) this.grants.delete(k);
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
  }
}

const key = (user: string, target: string) => `${user}\0${target}`;
