import { z } from "zod";
import { parsePolicyFile } from "../../../policies/index.js";
import { route } from "../router.js";

export const policyRoutes = [
  route({
    method: "GET",
    path: "/api/v1/policies",
    tag: "policies",
    summary: "The policies in force",
    access: "authenticated",
    async handler({ cp }) {
      return { body: await cp.policies.active() };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/policies/:name/versions",
    tag: "policies",
    summary: "Every version of a policy (a removal is a version without a spec)",
    access: "authenticated",
    async handler({ cp, params }) {
      return { body: await cp.policies.history(params.name ?? "") };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/policies/apply",
    tag: "policies",
    summary: "Apply a policy file (YAML); errors name the file, line and field; with prune, policies not in the file are removed",
    access: ["admin"],
    bodyLimit: 1 << 20,
    body: z.strictObject({ file: z.string().min(1).max(500), yaml: z.string().max(1 << 20), prune: z.boolean().optional() }),
    async handler({ cp, actor, body }) {
      const specs = parsePolicyFile(body.yaml, body.file);
      return { body: await cp.policies.apply(actor.name, specs, body.file, body.prune ?? false) };
    },
  }),
];
