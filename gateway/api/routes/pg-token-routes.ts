// A grant's PostgreSQL token: the password its holder gives psql or a driver. Derived,
// not stored, so it can be fetched again at any time while the grant lasts.
import { GrantTokens, loadTokenKey } from "../../postgres/grant-token.js";
import { HttpError } from "../http-errors.js";
import { route } from "../router.js";

export const pgTokenRoutes = [
  route({
    method: "POST",
    path: "/api/v1/grants/:id/pg-token",
    tag: "access",
    summary: "The PostgreSQL password (token) of the caller's live grant on a postgres target, and the user and database names to connect with",
    access: "authenticated",
    async handler({ cp, svc, actor, params }) {
      const id = params.id ?? "";
      const grant = await cp.grants.get(actor, id);
      if (grant.user !== actor.name) {
        throw new HttpError(403, "NOT_GRANT_HOLDER", `grant ${id} belongs to ${grant.user}: only its holder can get its token`);
      }
      if (grant.targetKind !== "postgres") {
        throw new HttpError(409, "GRANT_NOT_POSTGRES", `grant ${id} is for ${grant.target}, a ${grant.targetKind} target: PostgreSQL tokens are for grants on postgres targets`);
      }
      if (grant.state === "scheduled") {
        throw new HttpError(409, "GRANT_NOT_STARTED", `grant ${id} starts at ${grant.notBefore}: ask for its token then`, { notBefore: grant.notBefore });
      }
      if (grant.state === "ended") {
        throw new HttpError(410, "GRANT_ENDED", `grant ${id} has ended (${grant.endReason ?? "expired"}): request access again with: jitgate request ${grant.target} --login ${grant.login} --for 30m --reason "..."`, {
          endedAt: grant.endedAt,
          endReason: grant.endReason,
        });
      }
      const key = await loadTokenKey(svc.secrets);
      try {
        const token = new GrantTokens(key).token(grant.id);
        return {
          body: { grantId: grant.id, token, user: actor.name, target: grant.target, login: grant.login, database: `${grant.target}/DATABASE`, notAfter: grant.notAfter },
        };
      } finally {
        key.fill(0);
      }
    },
  }),
];
