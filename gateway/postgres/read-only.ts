// Read-only grants. The upstream session starts with default_transaction_read_only=on (a
// startup parameter, so RESET and DISCARD ALL bring it back), the client may not set it
// in its startup packet, statements that would switch it off are refused before they
// reach the server, and should one slip through anyway, the server's report of the
// changed setting ends the session before its next statement.
import { withoutComments } from "./sql-text.js";

export const READ_ONLY_PARAMS: Readonly<Record<string, string>> = { default_transaction_read_only: "on" };

// Any mention of the settings (even inside a string, where dynamic SQL hides it), a
// read-write transaction mode, set_config(), and DO blocks, which can build SQL from pieces.
const FORBIDDEN = /read_only|\bread\s+write\b|\bset_config\b|^\s*do\b|;\s*do\b/i;

/** Why the statement is refused on a read-only grant, or null when it may run. */
export function readOnlyViolation(sql: string): string | null {
  const text = withoutComments(sql);
  const m = FORBIDDEN.exec(text);
  if (!m) return null;
  const what = m[0].trim().replace(/^;\s*/, "").toLowerCase();
  return what === "do"
    ? "DO blocks are not allowed on a read-only grant"
    : `statements that could leave read-only mode (${JSON.stringify(what)}) are not allowed on a read-only grant`;
}

/** True when a ParameterStatus says the session is no longer read-only by default. */
export function leftReadOnly(name: string, value: string): boolean {
  return name === "default_transaction_read_only" && value !== "on";
}
