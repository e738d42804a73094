// One place for what a name may look like. Names appear in SSH user names
// (LOGIN@TARGET), PostgreSQL database names (TARGET/DB), URLs and logs, so they stay
// plain ASCII: look-alike Unicode or quoting characters would let one name pose as another.
import { invalid } from "./errors.js";

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const LOGIN = /^[A-Za-z0-9_][A-Za-z0-9._$-]{0,62}$/;
const LABEL_KEY = /^[a-z0-9][a-z0-9._/-]{0,62}$/;
const LABEL_VALUE = /^[A-Za-z0-9._-]{0,63}$/;

function show(value: string): string {
  return JSON.stringify(value.length > 70 ? `${value.slice(0, 67)}...` : value);
}

export function checkName(kind: string, value: unknown): string {
  if (typeof value !== "string" || !NAME.test(value)) {
    throw invalid(
      "INVALID_NAME",
      `${kind} name ${typeof value === "string" ? show(value) : "is missing or"} not valid: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit`,
      { field: kind },
    );
  }
  return value;
}

export function checkLogin(value: unknown): string {
  if (typeof value !== "string" || !LOGIN.test(value)) {
    throw invalid(
      "INVALID_LOGIN",
      `login ${typeof value === "string" ? show(value) : "is missing or"} not valid: use 1-63 letters, digits, '.', '_', '$' or '-'`,
      { field: "login" },
    );
  }
  return value;
}

export function checkLabels(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw invalid("INVALID_LABELS", "labels must be an object of key: value strings");
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!LABEL_KEY.test(k)) throw invalid("INVALID_LABELS", `label key ${show(k)} not valid: use lower-case letters, digits, '.', '_', '/' or '-'`);
    if (typeof v !== "string" || !LABEL_VALUE.test(v)) {
      throw invalid("INVALID_LABELS", `label ${k}: value ${show(String(v))} not valid: use up to 63 letters, digits, '.', '_' or '-'`);
    }
    out[k] = v;
  }
  if (Object.keys(out).length > 32) throw invalid("INVALID_LABELS", "at most 32 labels per target");
  return out;
}

/** HOST:PORT with a DNS name, an IPv4 address or a bracketed IPv6 address. */
export function parseAddress(value: unknown): { host: string; port: number } {
  const bad = () =>
    invalid("INVALID_ADDRESS", `address ${typeof value === "string" ? show(value) : "is missing or"} not valid: use HOST:PORT, for example db-1.internal:5432 or [::1]:22`);
  if (typeof value !== "string") throw bad();
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]{1,253})):(\d{1,5})$/.exec(value);
  if (!m) throw bad();
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw bad();
  if (m[2] && (host.startsWith("-") || host.startsWith(".") || host.includes(".."))) throw bad();
  // Brackets are for IPv6 only: "[1.2.3.4]" or "[:]" would be read differently by each client.
  if (m[1] !== undefined && (!m[1].includes(":") || !/[0-9A-Fa-f]/.test(m[1]))) throw bad();
  return { host, port };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function checkReason(value: unknown, required: boolean): string {
  if (value !== undefined && value !== null && typeof value !== "string") throw invalid("INVALID_REASON", "reason must be text");
  const reason = (value ?? "").trim();
  if (reason.length > 2000) throw invalid("INVALID_REASON", "reason is longer than 2000 characters");
  if (required && reason.length === 0) throw invalid("REASON_REQUIRED", "a reason is required: say why, with --reason TEXT");
  // Control characters would let a reason forge extra lines in terminals and logs.
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(reason)) throw invalid("INVALID_REASON", "reason contains control characters");
  return reason;
}
