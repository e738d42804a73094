import { AUDIT_EVENT_TYPES } from "../../../policies/index.js";
import { parseSince } from "../query-times.js";
import { HttpError } from "../http-errors.js";
import { route } from "../router.js";

export const auditRoutes = [
  route({
    method: "GET",
    path: "/api/v1/audit",
    tag: "audit",
    summary: "Audit events in order, filtered",
    access: ["admin", "auditor"],
    query: { since: "1h or an ISO time", until: "ISO time", user: "actor name", target: "target name", type: "event type or prefix like grant.", after: "seq to page from", limit: "1-1000" },
    async handler({ cp, query }) {
      const now = Date.now();
      const type = query.get("type") ?? undefined;
      if (type && !type.endsWith(".") && !AUDIT_EVENT_TYPES.includes(type as (typeof AUDIT_EVENT_TYPES)[number])) {
        throw new HttpError(400, "INVALID_QUERY", `unknown event type ${JSON.stringify(type)}; known: ${AUDIT_EVENT_TYPES.join(", ")}`);
      }
      const after = query.get("after");
      const limit = query.get("limit");
      const events = await cp.audit.query({
        since: parseSince(query.get("since"), now),
        until: parseSince(query.get("until"), now),
        actor: query.get("user") ?? undefined,
        target: query.get("target") ?? undefined,
        type,
        afterSeq: after ? Number(after) : undefined,
        limit: limit ? Number(limit) : undefined,
      });
      return { body: events };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/audit/verify",
    tag: "audit",
    summary: "Re-walk the hash chain; names any edited, inserted, deleted or reordered row",
    access: ["admin", "auditor"],
    async handler({ cp }) {
      return { body: await cp.audit.verify() };
    },
  }),
];
