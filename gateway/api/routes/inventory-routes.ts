import { z } from "zod";
import type { Account } from "../../../policies/index.js";
import { checkSecretText, secretKindFor, secretName, withSecretState } from "../../vault/account-secrets.js";
import { HttpError } from "../http-errors.js";
import { route, type RequestContext } from "../router.js";
import { VaultError } from "../../../vault/index.js";

const secret = z.string().max(64 * 1024);

const labels = z.record(z.string(), z.string()).optional();

export const inventoryRoutes = [
  route({
    method: "GET",
    path: "/api/v1/targets",
    tag: "inventory",
    summary: "List targets",
    access: "authenticated",
    async handler({ cp }) {
      return { body: await cp.inventory.listTargets() };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/targets",
    tag: "inventory",
    summary: "Add a target",
    access: ["admin"],
    body: z.strictObject({ name: z.string().max(200), kind: z.string().max(20), address: z.string().max(300), labels }),
    async handler({ cp, actor, body }) {
      return { status: 201, body: await cp.inventory.addTarget(actor.name, body) };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/targets/:name",
    tag: "inventory",
    summary: "One target",
    access: "authenticated",
    async handler({ cp, params }) {
      return { body: await cp.inventory.getTarget(params.name ?? "") };
    },
  }),
  route({
    method: "PATCH",
    path: "/api/v1/targets/:name",
    tag: "inventory",
    summary: "Change a target's address or labels",
    access: ["admin"],
    body: z.strictObject({ address: z.string().max(300).optional(), labels }),
    async handler({ cp, actor, params, body }) {
      return { body: await cp.inventory.updateTarget(actor.name, params.name ?? "", body) };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/accounts",
    tag: "inventory",
    summary: "List accounts, optionally of one target",
    access: "authenticated",
    query: { target: "target name" },
    async handler({ cp, svc, query }) {
      return { body: await withSecretState(svc.secrets, await cp.inventory.listAccounts(query.get("target") ?? undefined)) };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/targets/:name/accounts",
    tag: "inventory",
    summary: "Add an account (a login on the target and how the gateway authenticates as it), with its secret for the vault",
    access: ["admin"],
    body: z.strictObject({ login: z.string().max(200), auth: z.string().max(20), options: z.record(z.string(), z.unknown()).optional(), secret: secret.optional() }),
    async handler({ cp, svc, actor, params, body }) {
      const value = body.secret === undefined ? null : checkSecretText(body.secret);
      // Refuse a secret the account cannot use before anything is stored.
      if (value && (body.auth === "certificate" || body.auth === "ephemeral")) secretKindFor(body.auth);
      const account = await cp.inventory.addAccount(actor.name, params.name ?? "", body);
      if (value) await storeSecret(cp, svc, actor.name, account, value, "account added");
      return { status: 201, body: (await withSecretState(svc.secrets, [account]))[0] };
    },
  }),
  route({
    method: "PUT",
    path: "/api/v1/targets/:name/accounts/:login/secret",
    tag: "inventory",
    summary: "Store a new version of an account's secret in the vault; it is never returned",
    access: ["admin"],
    body: z.strictObject({ secret, reason: z.string().max(2000).optional() }),
    async handler({ cp, svc, actor, params, body }) {
      const account = await cp.inventory.getAccount(params.name ?? "", params.login ?? "");
      await storeSecret(cp, svc, actor.name, account, checkSecretText(body.secret), body.reason || "set by an admin");
      return { body: (await withSecretState(svc.secrets, [account]))[0] };
    },
  }),
];

async function storeSecret(cp: RequestContext["cp"], svc: RequestContext["svc"], actor: string, account: Account, value: Buffer, reason: string): Promise<void> {
  try {
    const v = await svc.secrets.put(secretName(account.targetName, account.login), secretKindFor(account.auth), value, actor, reason);
    await cp.inventory.secretSet(actor, account.targetName, account.login, v.version);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (err instanceof VaultError && err.kind === "invalid") throw new HttpError(400, err.code, err.message);
    throw new HttpError(503, "SECRET_NOT_STORED", `the secret of ${account.login}@${account.targetName} was not stored; set it again with: jitgate accounts set-secret ${account.targetName} ${account.login} --secret-stdin`);
  } finally {
    value.fill(0);
  }
}
