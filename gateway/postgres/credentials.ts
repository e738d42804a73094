// What the gateway logs in upstream as, from the vault: the account's password, or the
// grant's ephemeral role. The person never sees either.
import type { LiveGrant } from "../../policies/index.js";
import { ephemeralRoleName, VaultError } from "../../vault/index.js";
import type { EngineContext } from "../engine.js";
import { secretName } from "../vault/account-secrets.js";
import { ephemeralSecretName } from "../vault/ephemeral-grants.js";
import { PgGatewayError } from "./errors.js";

export interface UpstreamLogin {
  user: string;
  /** The caller wipes it once used. */
  password: Buffer;
  database: string;
}

export async function upstreamLogin(ctx: EngineContext, grant: LiveGrant, database: string | null): Promise<UpstreamLogin> {
  const account = await ctx.cp.inventory.getAccount(grant.targetName, grant.login);
  const db = database ?? (typeof account.options.database === "string" ? account.options.database : "postgres");
  try {
    if (grant.accountAuth === "password") {
      return { user: grant.login, password: await ctx.svc.secrets.current(secretName(grant.targetName, grant.login)), database: db };
    }
    if (grant.accountAuth === "ephemeral") {
      return { user: ephemeralRoleName(grant.grantId, grant.userName), password: await ctx.svc.secrets.current(ephemeralSecretName(grant.grantId)), database: db };
    }
  } catch (err) {
    if (err instanceof VaultError && err.kind === "not-found") {
      const what = grant.accountAuth === "ephemeral" ? `the role for grant ${grant.grantId} is not ready yet: try again in a moment` : `the vault holds no password for ${grant.login}@${grant.targetName}: an admin sets it with jitgate accounts set-secret`;
      throw new PgGatewayError("PG_UPSTREAM", "08006", `jitgate: ${what}`, { cause: err });
    }
    throw err;
  }
  throw new PgGatewayError("PG_UPSTREAM", "28000", `jitgate: ${grant.login}@${grant.targetName} logs in by ${grant.accountAuth}, which PostgreSQL sessions through the gateway do not support: use a password or ephemeral account`);
}
