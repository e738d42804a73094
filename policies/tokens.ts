// Opaque API tokens. Only a SHA-256 of each token is stored: tokens carry 256 bits of
// randomness, so a slow hash would add latency to every API call and no safety.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { iso, type ControlDeps } from "./context.js";
import { ControlError, unauthenticated } from "./errors.js";
import type { SqlClient } from "./ports.js";
import { toUser, userBlock, type User, type UserRow } from "./users.js";

const PREFIX = "jgt_";
export const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

export interface IssuedToken {
  id: string;
  token: string;
  expiresAt: Date;
}

export interface TokenInfo {
  id: string;
  label: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

// last_used_at is for people auditing stale tokens; minute precision is plenty, and a
// write on every API call would double the cost of a read.
const LAST_USED_PRECISION_MS = 60_000;

export class TokenService {
  private readonly lastUsedWritten = new Map<string, number>();

  constructor(private readonly deps: ControlDeps) {}

  async issue(tx: SqlClient, user: { id: string; name: string }, label: string, ttlMs: number): Promise<IssuedToken> {
    const token = PREFIX + randomBytes(32).toString("base64url");
    const id = randomUUID();
    const now = this.deps.clock.now();
    const expiresAt = new Date(now + ttlMs);
    await tx.query(
      "INSERT INTO api_tokens (id, user_id, token_hash, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
      [id, user.id, hashToken(token), label, new Date(now), expiresAt],
    );
    await this.deps.audit.append(tx, {
      actor: user.name,
      target: user.name,
      type: "token.created",
      data: { tokenId: id, userName: user.name, label, expiresAt: iso(expiresAt) },
    });
    return { id, token, expiresAt };
  }

  /** Resolves a presented token to its user, or throws a 401-kind error that says why. */
  async resolve(token: string): Promise<{ user: User; tokenId: string; expiresAt: Date }> {
    if (!token.startsWith(PREFIX) || token.length > 200) throw unauthenticated("TOKEN_INVALID", "the token is not valid: log in again with jitgate login");
    const rows = await this.deps.sql.query<UserRow & { token_id: string; token_expires_at: Date; token_revoked_at: Date | null }>(
      `SELECT u.*, t.id AS token_id, t.expires_at AS token_expires_at, t.revoked_at AS token_revoked_at
       FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`,
      [hashToken(token)],
    );
    const row = rows[0];
    if (!row) throw unauthenticated("TOKEN_INVALID", "the token is not valid: log in again with jitgate login");
    const now = this.deps.clock.now();
    if (row.token_revoked_at) throw unauthenticated("TOKEN_REVOKED", "the token was revoked (logged out or password changed): log in again with jitgate login");
    if (row.token_expires_at.getTime() <= now) throw unauthenticated("TOKEN_EXPIRED", "the token has expired: log in again with jitgate login");
    const user = toUser(row);
    const block = userBlock(user, now);
    if (block) throw new ControlError(block === "expired" ? "USER_EXPIRED" : "USER_DISABLED", "unauthenticated", `account ${user.name} is ${block}`);
    this.touch(row.token_id, now);
    return { user, tokenId: row.token_id, expiresAt: row.token_expires_at };
  }

  private touch(tokenId: string, now: number): void {
    if (now - (this.lastUsedWritten.get(tokenId) ?? 0) < LAST_USED_PRECISION_MS) return;
    if (this.lastUsedWritten.size > 10_000) this.lastUsedWritten.clear();
    this.lastUsedWritten.set(tokenId, now);
    this.deps.sql.query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", [tokenId, new Date(now)]).catch((err: unknown) => {
      this.deps.logger.warn("could not record token use", { err: String(err) });
    });
  }

  async revoke(tokenId: string, user: { name: string }): Promise<void> {
    await this.deps.sql.transaction(async (tx) => {
      const rows = await tx.query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id", [
        tokenId, new Date(this.deps.clock.now()),
      ]);
      if (rows.length > 0) {
        await this.deps.audit.append(tx, { actor: user.name, target: user.name, type: "token.revoked", data: { tokenId, userName: user.name } });
      }
    });
  }
}
