import { z } from "zod";
import { HttpError } from "../http-errors.js";
import { route } from "../router.js";

const STATES = ["pending", "approved", "denied", "cancelled", "expired"] as const;
const reason = z.string().max(2000);

export const accessRoutes = [
  route({
    method: "POST",
    path: "/api/v1/requests",
    tag: "access",
    summary: "Ask for time-boxed access to a login on a target",
    access: "authenticated",
    body: z.strictObject({
      target: z.string().max(200),
      login: z.string().max(200),
      duration: z.string().max(32),
      reason: reason.optional(),
      startAt: z.string().max(64).optional(),
    }),
    async handler({ cp, actor, body }) {
      return { status: 201, body: await cp.requests.create(actor, body) };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/requests",
    tag: "access",
    summary: "List requests (requesters see their own)",
    access: "authenticated",
    query: { state: STATES.join("|"), mine: "true to list only the caller's", limit: "1-1000" },
    async handler({ cp, actor, query }) {
      const state = query.get("state");
      if (state && !STATES.includes(state as (typeof STATES)[number])) {
        throw new HttpError(400, "INVALID_QUERY", `state must be one of ${STATES.join(", ")}`);
      }
      const limit = query.get("limit");
      return {
        body: await cp.requests.list(actor, {
          state: (state ?? undefined) as (typeof STATES)[number] | undefined,
          mine: query.get("mine") === "true",
          limit: limit ? Number(limit) || 200 : undefined,
        }),
      };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/requests/:id",
    tag: "access",
    summary: "One request with its approvals",
    access: "authenticated",
    async handler({ cp, actor, params }) {
      return { body: await cp.requests.get(actor, params.id ?? "") };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/requests/:id/approve",
    tag: "access",
    summary: "Approve a pending request (each approver counts once; never one's own)",
    access: "authenticated",
    body: z.strictObject({ reason: reason.optional() }),
    async handler({ cp, actor, params, body }) {
      return { body: await cp.requests.approve(actor, params.id ?? "", body.reason) };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/requests/:id/deny",
    tag: "access",
    summary: "Deny a pending request; any denial ends it",
    access: "authenticated",
    body: z.strictObject({ reason }),
    async handler({ cp, actor, params, body }) {
      return { body: await cp.requests.deny(actor, params.id ?? "", body.reason) };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/requests/:id/cancel",
    tag: "access",
    summary: "Withdraw one's own pending request",
    access: "authenticated",
    async handler({ cp, actor, params }) {
      return { body: await cp.requests.cancel(actor, params.id ?? "") };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/grants",
    tag: "access",
    summary: "List grants (requesters see their own)",
    access: "authenticated",
    query: { active: "true for live and scheduled grants only", user: "user name", limit: "1-1000" },
    async handler({ cp, actor, query }) {
      const limit = query.get("limit");
      return {
        body: await cp.grants.list(actor, { active: query.get("active") === "true", user: query.get("user") ?? undefined, limit: limit ? Number(limit) || 200 : undefined }),
      };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/grants/:id",
    tag: "access",
    summary: "One grant",
    access: "authenticated",
    async handler({ cp, actor, params }) {
      return { body: await cp.grants.get(actor, params.id ?? "") };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/grants/:id/revoke",
    tag: "access",
    summary: "End a grant now; its sessions are cut",
    access: "authenticated",
    body: z.strictObject({ reason: reason.optional() }),
    async handler({ cp, actor, params, body }) {
      return { body: await cp.grants.revoke(actor, params.id ?? "", body.reason) };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/grants/:id/extend",
    tag: "access",
    summary: "Ask for more time on a live grant: a new request tied to it, approved like any other",
    access: "authenticated",
    body: z.strictObject({ duration: z.string().max(32), reason: reason.optional() }),
    async handler({ cp, actor, params, body }) {
      return { status: 201, body: await cp.requests.extend(actor, params.id ?? "", body) };
    },
  }),
];
