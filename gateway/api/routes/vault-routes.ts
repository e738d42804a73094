import { z } from "zod";
import { secretName } from "../../vault/account-secrets.js";
import { HttpError } from "../http-errors.js";
import { route } from "../router.js";

const accountRef = (value: string | null) => {
  const m = /^([^/]+)\/([^/]+)$/.exec(value ?? "");
  if (!m) throw new HttpError(400, "INVALID_QUERY", "name the account as TARGET/LOGIN");
  return { target: m[1] as string, login: m[2] as string };
};

export const vaultRoutes = [
  route({
    method: "POST",
    path: "/api/v1/vault/rotate",
    tag: "vault",
    summary: "Rotate an account's password now: set a new one on the target, verify it, keep it in the vault",
    access: ["admin"],
    body: z.strictObject({ target: z.string().max(200), login: z.string().max(200), reason: z.string().max(2000).optional() }),
    async handler({ svc, actor, body }) {
      return { body: await svc.rotations.rotate(actor.name, body.target, body.login, body.reason || "on demand") };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/vault/history",
    tag: "vault",
    summary: "Rotations of an account and the versions of its secret: who, when, why, outcome; never values",
    access: ["admin", "auditor"],
    query: { account: "TARGET/LOGIN" },
    async handler({ cp, svc, query }) {
      const { target, login } = accountRef(query.get("account"));
      await cp.inventory.getAccount(target, login);
      const name = secretName(target, login);
      const rotations = await svc.rotations.history.list(name);
      const versions = (await svc.secrets.has(name)) || rotations.length > 0 ? await svc.secrets.versions(name).catch(() => []) : [];
      return { body: { account: `${target}/${login}`, rotations, versions: versions.map(({ kekId: _k, ...v }) => v) } };
    },
  }),
];
