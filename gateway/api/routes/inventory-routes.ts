import { z } from "zod";
import { route } from "../router.js";

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
    async handler({ cp, query }) {
      return { body: await cp.inventory.listAccounts(query.get("target") ?? undefined) };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/targets/:name/accounts",
    tag: "inventory",
    summary: "Add an account (a login on the target and how the gateway authenticates as it)",
    access: ["admin"],
    body: z.strictObject({ login: z.string().max(200), auth: z.string().max(20), options: z.record(z.string(), z.unknown()).optional() }),
    async handler({ cp, actor, params, body }) {
      return { status: 201, body: await cp.inventory.addAccount(actor.name, params.name ?? "", body) };
    },
  }),
];
