import { openApiDocument } from "../openapi.js";
import { Router, type Route } from "../router.js";
import { accessRoutes } from "./access-routes.js";
import { auditRoutes } from "./audit-routes.js";
import { authRoutes } from "./auth-routes.js";
import { caRoutes } from "./ca-routes.js";
import { clientCertRoutes } from "./client-cert-routes.js";
import { pgTokenRoutes } from "./pg-token-routes.js";
import { vaultRoutes } from "./vault-routes.js";
import { rekeyRoutes } from "./rekey-routes.js";
import { sshCertRoutes } from "./ssh-cert-routes.js";
import { healthRoutes } from "./health-routes.js";
import { inventoryRoutes } from "./inventory-routes.js";
import { policyRoutes } from "./policy-routes.js";
import { userRoutes } from "./user-routes.js";
import { recordingRoutes } from "./recording-routes.js";

export function buildRouter(ready: () => Promise<boolean>, version: string): Router {
  let doc: unknown = null;
  const routes: Route[] = [];
  routes.push(
    ...healthRoutes(ready, () => (doc ??= openApiDocument(routes, version))),
    ...authRoutes,
    ...userRoutes,
    ...inventoryRoutes,
    ...policyRoutes,
    ...accessRoutes,
    ...auditRoutes,
    ...caRoutes,
    ...vaultRoutes,
    ...rekeyRoutes,
    ...sshCertRoutes,
    ...clientCertRoutes,
    ...recordingRoutes,
    ...pgTokenRoutes,
  );
  return new Router(routes);
}
