// Where an account's secret lives in the vault, and which accounts have one at all.
import type { Account, AccountAuth } from "../../policies/index.js";
import type { SecretKind, SecretStore } from "../../vault/index.js";
import { HttpError } from "../api/http-errors.js";

export const secretName = (target: string, login: string) => `${target}/${login}`;

const KIND_BY_AUTH: Partial<Record<AccountAuth, SecretKind>> = { password: "password", key: "private-key" };

/** The vault kind of an account's secret, or a 400 for accounts that take none. */
export function secretKindFor(auth: AccountAuth): SecretKind {
  const kind = KIND_BY_AUTH[auth];
  if (!kind) {
    throw new HttpError(400, "SECRET_NOT_USED", auth === "certificate"
      ? "certificate accounts log in with short-lived certificates from the gateway's target CA: they hold no secret"
      : "ephemeral accounts get a new role and password for every grant: they hold no secret");
  }
  return kind;
}

export function checkSecretText(secret: string): Buffer {
  if (secret.length === 0) throw new HttpError(400, "SECRET_EMPTY", "the secret is empty");
  return Buffer.from(secret, "utf8");
}

export async function withSecretState(secrets: SecretStore, accounts: Account[]): Promise<(Account & { hasSecret: boolean })[]> {
  return Promise.all(accounts.map(async (a) => ({ ...a, hasSecret: await secrets.has(secretName(a.targetName, a.login)) })));
}
