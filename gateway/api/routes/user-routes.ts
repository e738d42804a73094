import { z } from "zod";
import { route } from "../router.js";
import { userView } from "./auth-routes.js";

const roles = z.array(z.string()).min(1).max(4);
const groups = z.array(z.string()).max(64);

export const userRoutes = [
  route({
    method: "GET",
    path: "/api/v1/users",
    tag: "users",
    summary: "List users",
    access: ["admin", "auditor"],
    async handler({ cp }) {
      return { body: (await cp.users.list()).map(userView) };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/users",
    tag: "users",
    summary: "Create a user; the password must be changed at first login",
    access: ["admin"],
    body: z.strictObject({
      name: z.string().max(200),
      roles,
      groups: groups.optional(),
      expiresAt: z.string().max(64).nullable().optional(),
      password: z.string().max(1024).optional(),
    }),
    async handler({ cp, actor, body }) {
      const user = await cp.users.create(actor.name, { ...body, mustChangePassword: true });
      return { status: 201, body: userView(user) };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/users/:name",
    tag: "users",
    summary: "One user",
    access: ["admin", "auditor"],
    async handler({ cp, params }) {
      return { body: userView(await cp.users.get(params.name ?? "")) };
    },
  }),
  route({
    method: "PATCH",
    path: "/api/v1/users/:name",
    tag: "users",
    summary: "Change roles, groups, expiry, disable, or reset the password; an earlier expiry cuts open grants at that instant",
    access: ["admin"],
    body: z.strictObject({
      roles: roles.optional(),
      groups: groups.optional(),
      expiresAt: z.string().max(64).nullable().optional(),
      disabled: z.boolean().optional(),
      password: z.string().max(1024).optional(),
    }),
    async handler({ cp, actor, params, body }) {
      return { body: userView(await cp.users.update(actor, params.name ?? "", body)) };
    },
  }),
];
