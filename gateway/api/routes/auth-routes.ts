import { z } from "zod";
import { route } from "../router.js";

const userView = (u: { name: string; roles: string[]; groups: string[]; mustChangePassword: boolean; expiresAt: Date | null; disabledAt: Date | null; createdAt: Date }) => ({
  name: u.name,
  roles: u.roles,
  groups: u.groups,
  mustChangePassword: u.mustChangePassword,
  expiresAt: u.expiresAt?.toISOString() ?? null,
  disabled: u.disabledAt !== null,
  createdAt: u.createdAt.toISOString(),
});
export { userView };

export const authRoutes = [
  route({
    method: "POST",
    path: "/api/v1/auth/login",
    tag: "auth",
    summary: "Log in with a password; returns an API token",
    access: "public",
    body: z.strictObject({ user: z.string().min(1).max(200), password: z.string().min(1).max(1024) }),
    async handler({ cp, body, clientAddress }) {
      const r = await cp.auth.login(body.user, body.password, clientAddress);
      return { body: { token: r.token, expiresAt: r.expiresAt.toISOString(), user: userView(r.user) } };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/auth/logout",
    tag: "auth",
    summary: "Revoke the token this request carries",
    access: "authenticated",
    beforePasswordChange: true,
    async handler({ cp, tokenId, actor }) {
      if (tokenId) await cp.tokens.revoke(tokenId, actor);
      return { status: 204 };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/me",
    tag: "auth",
    summary: "The calling user",
    access: "authenticated",
    beforePasswordChange: true,
    async handler({ cp, actor }) {
      return { body: userView(await cp.users.get(actor.name)) };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/me/password",
    tag: "auth",
    summary: "Change the caller's password (required after a one-time password); revokes other tokens",
    access: "authenticated",
    beforePasswordChange: true,
    body: z.strictObject({ current: z.string().max(1024), password: z.string().max(1024) }),
    async handler({ cp, actor, body, clientAddress }) {
      // Re-check the current password: a stolen token alone must not take over the account.
      await cp.auth.checkPassword(actor.name, body.current, clientAddress);
      await cp.users.changeOwnPassword(actor, body.password);
      return { status: 204 };
    },
  }),
];
