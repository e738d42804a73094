// Password login for people; the result is an API token for the CLI or the console.
import { type ControlDeps } from "./context.js";
import { ControlError } from "./errors.js";
import { burnPasswordCheck, verifyPassword } from "./passwords.js";
import { LoginThrottle, type ThrottlePolicy } from "./throttle.js";
import { TokenService, type IssuedToken } from "./tokens.js";
import { toUser, userBlock, type User, type UserRow } from "./users.js";

export interface LoginResult extends IssuedToken {
  user: User;
}

const MAX_NAME = 200;

export class AuthService {
  private readonly throttle: LoginThrottle;

  constructor(
    private readonly deps: ControlDeps,
    private readonly tokens: TokenService,
    private readonly sessionTtlMs: number,
    throttle?: ThrottlePolicy,
  ) {
    this.throttle = new LoginThrottle(deps.sql, deps.clock, throttle);
  }

  async login(name: string, password: string, clientAddress: string | null): Promise<LoginResult> {
    const user = await this.checkPassword(name, password, clientAddress);
    return this.deps.sql.transaction(async (tx) => {
      await this.deps.audit.append(tx, { actor: name, target: name, type: "auth.login", data: { userName: name, ...addr(clientAddress) } });
      const issued = await this.tokens.issue(tx, user, "login", this.sessionTtlMs);
      return { ...issued, user };
    });
  }

  /**
   * Checks a password under the same throttle as a login, recording failures; returns the
   * user when it is right and the account usable.
   */
  async checkPassword(name: string, password: string, clientAddress: string | null): Promise<User> {
    const bad = () => new ControlError("LOGIN_FAILED", "unauthenticated", "user name or password is wrong");
    if (typeof name !== "string" || typeof password !== "string" || name.length === 0 || name.length > MAX_NAME || password.length > 1024) {
      throw bad();
    }
    try {
      await this.throttle.begin(name);
    } catch (err) {
      await this.deps.sql.transaction((tx) =>
        this.deps.audit.append(tx, { actor: name, target: name, type: "auth.login_failed", data: { userName: name, reason: "throttled", ...addr(clientAddress) } }),
      );
      throw err;
    }
    const rows = await this.deps.sql.query<UserRow>("SELECT * FROM users WHERE name = $1", [name]);
    const row = rows[0];
    let failure: "unknown-user" | "bad-password" | "expired" | "disabled" | null = null;
    if (!row || !row.password_hash) {
      await burnPasswordCheck(password);
      failure = "unknown-user";
    } else if (!(await verifyPassword(row.password_hash, password))) {
      failure = "bad-password";
    } else {
      failure = userBlock(toUser(row), this.deps.clock.now());
    }
    await this.deps.sql.transaction(async (tx) => {
      if (failure) {
        // The throttle counted this attempt already; expired and disabled accounts stay
        // counted as failures too: they must not be probed freely.
        await this.deps.audit.append(tx, { actor: name, target: name, type: "auth.login_failed", data: { userName: name, reason: failure, ...addr(clientAddress) } });
      } else {
        await this.throttle.success(tx, name);
      }
    });
    // Only a correct password learns that the account is expired or disabled.
    if (failure === "expired") throw new ControlError("USER_EXPIRED", "unauthenticated", `account ${name} has expired: ask an admin to extend it`);
    if (failure === "disabled") throw new ControlError("USER_DISABLED", "unauthenticated", `account ${name} is disabled: ask an admin`);
    if (failure) throw bad();
    return toUser(row as UserRow);
  }
}

const addr = (clientAddress: string | null) => (clientAddress ? { clientAddress } : {});
