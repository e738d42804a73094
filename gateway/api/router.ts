// A small router: each route declares its method, path, who may call it and the shape of
// its body. The same table produces the OpenAPI description, so docs cannot drift.
import type { z } from "zod";
import type { Actor, ControlPlane, Role } from "../../policies/index.js";
import type { GatewayServices } from "../services.js";

export type Access = "public" | "authenticated" | Role[];

export interface RequestContext<B = unknown> {
  params: Record<string, string>;
  query: URLSearchParams;
  body: B;
  actor: Actor;
  tokenId: string | null;
  clientAddress: string | null;
  cp: ControlPlane;
  svc: GatewayServices;
}

export interface Reply {
  status?: number;
  body?: unknown;
}

export interface Route<S extends z.ZodType = z.ZodType> {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  summary: string;
  tag: string;
  access: Access;
  body?: S;
  /** Query parameters, documented in the OpenAPI description. */
  query?: Record<string, string>;
  /** Bytes; defaults to the configured API body limit. */
  bodyLimit?: number;
  /** Allowed while the caller still has to change a one-time password. */
  beforePasswordChange?: boolean;
  handler: (ctx: RequestContext<z.output<S>>) => Promise<Reply>;
}

export const route = <S extends z.ZodType>(r: Route<S>): Route => r as unknown as Route;

interface Compiled {
  route: Route;
  pattern: RegExp;
  names: string[];
}

export class Router {
  private readonly compiled: Compiled[];

  constructor(readonly routes: Route[]) {
    this.compiled = routes.map((r) => {
      const names: string[] = [];
      const source = r.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:([a-zA-Z]+)/g, (_m, name: string) => {
        names.push(name);
        return "([^/]+)";
      });
      return { route: r, pattern: new RegExp(`^${source}$`), names };
    });
  }

  /** The route for a request, "method" when the path exists with another method, or null. */
  match(method: string, path: string): { route: Route; params: Record<string, string> } | "method" | null {
    let pathKnown = false;
    for (const c of this.compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      pathKnown = true;
      if (c.route.method !== method) continue;
      const params: Record<string, string> = {};
      c.names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1] ?? "");
      });
      return { route: c.route, params };
    }
    return pathKnown ? "method" : null;
  }
}
