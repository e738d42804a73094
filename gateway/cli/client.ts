// The CLI's HTTP client: every command is a thin caller of the control API.
import { request as httpsRequest } from "node:https";
import { CliError } from "./errors.js";

export interface ApiTarget {
  server: string;
  ca: string | null;
  token: string | null;
}

const TIMEOUT_MS = 30_000;

export async function callApi<T = unknown>(api: ApiTarget, method: string, path: string, body?: unknown): Promise<T> {
  let url: URL;
  try {
    url = new URL(path, api.server);
  } catch {
    throw new CliError("BAD_SERVER", `${JSON.stringify(api.server)} is not a URL: use https://HOST:PORT`);
  }
  if (url.protocol !== "https:") throw new CliError("BAD_SERVER", "the server URL must start with https://");
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: "application/json" };
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(payload));
  }
  if (api.token) headers.authorization = `Bearer ${api.token}`;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ...(api.ca ? { ca: api.ca } : {}), timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url.host} within ${TIMEOUT_MS / 1000}s`)));
    req.on("error", (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === "ECONNREFUSED" ? `nothing listens on ${url.host}: is the gateway running?`
        : err.code === "DEPTH_ZERO_SELF_SIGNED_CERT" || err.code === "SELF_SIGNED_CERT_IN_CHAIN" || err.code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
          ? `the gateway's certificate is not trusted: log in with --ca DATA/ca.pem (the file the gateway wrote)`
          : err.code === "ERR_TLS_CERT_ALTNAME_INVALID" ? `the gateway's certificate is not for ${url.hostname}: use the host name it was issued for`
          : err.message;
      reject(new CliError("UNREACHABLE", `cannot reach ${url.origin}: ${hint}`));
    });
    req.end(payload);
  });
  let parsed: unknown = undefined;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError("BAD_RESPONSE", `the server answered ${status} with something that is not JSON`, status);
    }
  }
  if (status >= 400) {
    const err = (parsed ?? {}) as { code?: string; message?: string };
    throw new CliError(err.code ?? `HTTP_${status}`, err.message ?? `the server answered ${status}`, status);
  }
  return parsed as T;
}
