// Follows both directions of a session to record each statement with its outcome: the
// simple protocol (one Query, possibly several statements, one CommandComplete each) and
// the extended one (Parse/Bind/Describe/Execute/Close up to Sync, answered in order, and
// skipped up to the Sync after an error). COPY needs nothing special: its CommandComplete
// carries the row count.
import { performance } from "node:perf_hooks";
import type { SqlStatement } from "../../recorder/index.js";
import { parseErrorFields, readCString } from "./wire.js";
import { splitStatements } from "./sql-text.js";

type Stage = NonNullable<SqlStatement["stage"]>;

interface Op {
  kind: "simple" | "parse" | "bind" | "describe" | "execute" | "close" | "sync";
  text: string;
  params: (string | null)[] | null;
  start: number;
  /** simple: the statements of the query, and which one runs now. */
  statements?: string[];
  index?: number;
  failed?: boolean;
}

interface Portal {
  text: string;
  params: (string | null)[] | null;
  start: number;
}

const MAX_PARAM_CHARS = 4096;
const TOO_LARGE = "[message too large to record]";
const c = (s: string) => s.charCodeAt(0);
const T = { Q: c("Q"), P: c("P"), B: c("B"), E: c("E"), D: c("D"), C: c("C"), S: c("S"), F: c("F"), one: c("1"), two: c("2"), three: c("3"), Z: c("Z"), T: c("T"), n: c("n"), s: c("s"), I: c("I"), V: c("V") };

/** Client message types whose bodies the tracker reads. */
export const CLIENT_BODIES = "QPBEC";
/** Server message types whose bodies the tracker reads. */
export const SERVER_BODIES = "CEZS";

export class StatementTracker {
  private readonly ops: Op[] = [];
  private readonly statements = new Map<string, string>();
  private readonly portals = new Map<string, Portal>();
  private rows = 0;
  /** The transaction status of the last ReadyForQuery: I, T or E. */
  status = "I";

  constructor(private readonly record: (s: SqlStatement) => void) {}

  /** True while a statement is running or queued on the server. */
  get busy(): boolean {
    return this.ops.length > 0;
  }

  fromClient(type: number, body: Buffer | null): void {
    const now = performance.now();
    switch (type) {
      case T.Q: {
        const text = body ? cstring(body, 0) : TOO_LARGE;
        this.ops.push({ kind: "simple", text, params: null, start: now, statements: splitStatements(text), index: 0 });
        break;
      }
      case T.P: {
        const name = body ? readCString(body, 0) : null;
        const text = name && body ? cstring(body, name.next) : TOO_LARGE;
        if (name) this.statements.set(name.value, text);
        this.ops.push({ kind: "parse", text, params: null, start: now });
        break;
      }
      case T.B: {
        const bound = body ? parseBind(body) : null;
        const text = bound ? (this.statements.get(bound.statement) ?? "") : TOO_LARGE;
        const params = bound?.params ?? null;
        if (bound) this.portals.set(bound.portal, { text, params, start: now });
        this.ops.push({ kind: "bind", text, params, start: now });
        break;
      }
      case T.E: {
        const portal = this.portals.get(body ? cstring(body, 0) : "");
        this.ops.push({ kind: "execute", text: portal?.text ?? "", params: portal?.params ?? null, start: portal?.start ?? now });
        break;
      }
      case T.D:
        this.ops.push({ kind: "describe", text: "", params: null, start: now });
        break;
      case T.C: {
        if (body && body.length > 1) {
          const name = cstring(body, 1);
          if (body[0] === T.S) this.statements.delete(name);
          else this.portals.delete(name);
        }
        this.ops.push({ kind: "close", text: "", params: null, start: now });
        break;
      }
      case T.S:
        this.ops.push({ kind: "sync", text: "", params: null, start: now });
        break;
      case T.F:
        this.ops.push({ kind: "simple", text: "-- function call", params: null, start: now, statements: ["-- function call"], index: 0 });
        break;
    }
  }

  fromServer(type: number, body: Buffer | null): void {
    const head = this.ops[0];
    if (type === c("D")) {
      this.rows++;
      return;
    }
    if (!head) {
      if (type === T.Z && body) this.status = String.fromCharCode(body[0] ?? 73);
      return;
    }
    switch (type) {
      case T.one:
      case T.two:
      case T.three:
        this.ops.shift();
        break;
      case T.T:
      case T.n:
        if (head.kind === "describe") this.ops.shift();
        break;
      case T.C: {
        const tag = body ? cstring(body, 0) : "";
        if (head.kind === "execute") {
          this.ops.shift();
          this.emit(head, head.text, { tag, rows: rowsOf(tag) ?? this.rows });
        } else if (head.kind === "simple") {
          this.emit(head, this.current(head), { tag, rows: rowsOf(tag) ?? this.rows });
          head.index = (head.index ?? 0) + 1;
          head.start = performance.now();
        }
        break;
      }
      case T.s:
        if (head.kind === "execute") {
          this.ops.shift();
          this.emit(head, head.text, { tag: null, rows: this.rows });
        }
        break;
      case T.I:
        if (head.kind === "execute") this.ops.shift();
        break;
      case T.V:
        if (head.kind === "simple") {
          this.emit(head, this.current(head), { tag: null, rows: null });
          head.index = (head.index ?? 0) + 1;
        }
        break;
      case T.E:
        this.failed(head, body);
        break;
      case T.Z:
        if (body) this.status = String.fromCharCode(body[0] ?? 73);
        // Ends a simple query or a Sync; anything queued before the Sync was answered already.
        while (this.ops.length > 0) {
          const op = this.ops.shift() as Op;
          if (op.kind === "simple" || op.kind === "sync") break;
        }
        break;
    }
  }

  private current(op: Op): string {
    const all = op.statements ?? [];
    // A splitting the lexer got wrong must not lose the text: fall back to the whole query.
    return all.length > 0 && (op.index ?? 0) < all.length ? (all[op.index ?? 0] as string) : op.text;
  }

  private failed(head: Op, body: Buffer | null): void {
    const fields = body ? parseErrorFields(body) : new Map<string, string>();
    const error = { sqlstate: fields.get("C") ?? null, error: fields.get("M") ?? "error" };
    if (head.kind === "simple") {
      this.emit(head, this.current(head), { tag: null, rows: null, ...error, stage: "simple" });
      head.failed = true;
      return;
    }
    const stage: Stage = head.kind === "parse" ? "parse" : head.kind === "bind" ? "bind" : "execute";
    this.emit(head, head.text, { tag: null, rows: null, ...error, stage });
    // The server skips everything up to the next Sync.
    while (this.ops.length > 0 && this.ops[0]?.kind !== "sync") this.ops.shift();
  }

  private emit(op: Op, text: string, r: { tag: string | null; rows: number | null; sqlstate?: string | null; error?: string | null; stage?: Stage }): void {
    const now = performance.now();
    this.record({
      text,
      params: op.params,
      durationMs: Math.round((now - op.start) * 1000) / 1000,
      tag: r.tag,
      rows: r.rows,
      sqlstate: r.sqlstate ?? null,
      error: r.error ?? null,
      stage: r.stage ?? null,
    });
    this.rows = 0;
  }
}

function cstring(buf: Buffer, offset: number): string {
  return readCString(buf, offset)?.value ?? buf.toString("utf8", offset);
}

/** The number at the end of a CommandComplete tag (SELECT 3, INSERT 0 1, COPY 10), or null. */
export function rowsOf(tag: string): number | null {
  const m = /^(?:SELECT|INSERT \d+|UPDATE|DELETE|COPY|FETCH|MOVE|MERGE) (\d+)$/.exec(tag);
  return m ? Number(m[1]) : null;
}

/** Bind's portal, statement and parameters (text as sent; binary as \x hex). Null if malformed. */
export function parseBind(body: Buffer): { portal: string; statement: string; params: (string | null)[] } | null {
  try {
    const portal = readCString(body, 0);
    const statement = portal ? readCString(body, portal.next) : null;
    if (!portal || !statement) return null;
    let i = statement.next;
    const nFormats = body.readInt16BE(i);
    i += 2;
    const formats: number[] = [];
    for (let k = 0; k < nFormats; k++, i += 2) formats.push(body.readInt16BE(i));
    const nParams = body.readInt16BE(i);
    i += 2;
    const params: (string | null)[] = [];
    for (let k = 0; k < nParams; k++) {
      const len = body.readInt32BE(i);
      i += 4;
      if (len < 0) {
        params.push(null);
        continue;
      }
      if (i + len > body.length) return null;
      const binary = (nFormats === 1 ? formats[0] : formats[k]) === 1;
      params.push(binary ? `\\x${body.toString("hex", i, i + Math.min(len, MAX_PARAM_CHARS / 2))}` : body.toString("utf8", i, i + Math.min(len, MAX_PARAM_CHARS)));
      i += len;
    }
    return { portal: portal.value, statement: statement.value, params };
  } catch {
    return null;
  }
}
