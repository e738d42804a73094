// Reading a request body: bounded in size, JSON only, checked against the route's schema.
import type { IncomingMessage } from "node:http";
import type { z } from "zod";
import { HttpError } from "./http-errors.js";

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) throw new HttpError(413, "BODY_TOO_LARGE", `request body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, "BODY_TOO_LARGE", `request body is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function parseJsonBody<S extends z.ZodType>(req: IncomingMessage, raw: Buffer, schema: S): z.output<S> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (raw.length === 0) throw new HttpError(400, "BODY_REQUIRED", "this request needs a JSON body");
  if (type !== "application/json") throw new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json");
  let value: unknown;
  try {
    value = JSON.parse(raw.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, "MALFORMED_JSON", `the body is not valid JSON: ${(err as Error).message}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const field = i.path.length > 0 ? i.path.map(String).join(".") : "(body)";
      const message = i.code === "unrecognized_keys" ? `unknown field(s) ${i.keys.map((k) => JSON.stringify(k)).join(", ")}` : i.message;
      return { field, message };
    });
    throw new HttpError(400, "INVALID_BODY", problems.map((p) => `${p.field}: ${p.message}`).join("; "), { problems });
  }
  return result.data;
}
