import { HttpError } from "../http-errors.js";
import { route } from "../router.js";

export function healthRoutes(ready: () => Promise<boolean>, openapi: () => unknown) {
  return [
    route({
      method: "GET",
      path: "/healthz",
      tag: "health",
      summary: "The process is up",
      access: "public",
      async handler() {
        return { body: { status: "ok" } };
      },
    }),
    route({
      method: "GET",
      path: "/readyz",
      tag: "health",
      summary: "The node can serve: store reachable, expiry clock running",
      access: "public",
      async handler() {
        if (!(await ready().catch(() => false))) throw new HttpError(503, "NOT_READY", "the gateway is starting or its database is unreachable");
        return { body: { status: "ready" } };
      },
    }),
    route({
      method: "GET",
      path: "/api/v1/endpoints",
      tag: "health",
      summary: "Where this node's engines listen: the port of ssh, postgres and http",
      access: "authenticated",
      async handler({ svc }) {
        return { body: svc.endpoints };
      },
    }),
    route({
      method: "GET",
      path: "/api/openapi.json",
      tag: "health",
      summary: "This API's OpenAPI description",
      access: "public",
      async handler() {
        return { body: openapi() };
      },
    }),
  ];
}
