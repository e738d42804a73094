// A grant's PostgreSQL token: the password a person gives the gateway for one grant.
// It is HMAC-SHA-256(vault-held key, grant id), so nothing per grant is stored, the
// holder can print it again at any time, and it opens nothing once the grant has ended
// (every connection first looks for the live grant). Because the token is derived, the
// gateway computes its SCRAM keys on the fly; every grant of one person shares that
// person's salt, so one SCRAM exchange can be checked against each of their grants and
// the token itself picks the grant.
import { createHmac, randomBytes } from "node:crypto";
import { scramSha256Keys, type ScramKeys, type SecretStore } from "../../vault/index.js";

const KEY_NAME = "jitgate/pg-token-key";
export const TOKEN_PREFIX = "jgpg_";
export const TOKEN_ITERATIONS = 4096;

/**
 * The token key, made on first use. Two nodes starting at once may each store a version;
 * every node uses the oldest version still kept, so they agree.
 */
export async function loadTokenKey(secrets: SecretStore): Promise<Buffer> {
  if (!(await secrets.has(KEY_NAME))) {
    await secrets.put(KEY_NAME, "token", randomBytes(32), "system", "PostgreSQL grant token key, created at first use");
  }
  const first = (await secrets.versions(KEY_NAME)).find((v) => v.state === "current" || v.state === "retired");
  if (!first) return secrets.current(KEY_NAME);
  return secrets.read(KEY_NAME, first.version);
}

export class GrantTokens {
  private readonly keys = new Map<string, ScramKeys>();

  constructor(private readonly key: Buffer) {}

  token(grantId: string): string {
    return TOKEN_PREFIX + createHmac("sha256", this.key).update(`pg-token\0${grantId}`).digest("base64url");
  }

  /** The SCRAM salt for a person: fixed per user, so one exchange fits all their grants. */
  salt(userName: string): Buffer {
    return createHmac("sha256", this.key).update(`pg-salt\0${userName}`).digest().subarray(0, 16);
  }

  /** The StoredKey and ServerKey of a grant's token, computed once per grant. */
  scramKeys(grantId: string, userName: string): ScramKeys {
    const hit = this.keys.get(grantId);
    if (hit) return hit;
    const keys = scramSha256Keys(this.token(grantId), { salt: this.salt(userName), iterations: TOKEN_ITERATIONS });
    if (this.keys.size >= 4096) this.keys.delete(this.keys.keys().next().value as string);
    this.keys.set(grantId, keys);
    return keys;
  }

  forget(grantId: string): void {
    this.keys.delete(grantId);
  }
}
