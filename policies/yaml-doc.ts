import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair } from "yaml";
import type { z } from "zod";
import { ValidationError, type SourcePosition } from "./errors.js";

type Problem = SourcePosition & { message: string };
type Segment = PropertyKey;

/**
 * Parses one YAML document and validates it against a zod schema. Every problem, from
 * YAML syntax to schema, comes back in a single ValidationError, each with the file,
 * line, column and field path, so an operator can fix a whole file in one pass.
 */
export function parseYaml<T>(text: string, file: string, schema: z.ZodType<T>): T {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number, path: readonly Segment[], message: string): Problem => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col, field: formatPath(path), message };
  };

  if (doc.errors.length > 0) {
    // After the first real syntax error the parser's recovery guesses produce follow-on
    // errors that only confuse; duplicate keys stand alone, so all of them are kept.
    const firstSyntax = doc.errors.find((e) => e.code !== "DUPLICATE_KEY");
    const shown = doc.errors.filter((e) => e.code === "DUPLICATE_KEY" || e === firstSyntax);
    throw new ValidationError(
      shown.map((e) => {
        const { path, inKey } = pathAt(doc, e.pos[0]);
        // Outside a duplicate, a "key" at the error is debris of the broken syntax, not a field.
        if (inKey && e.code !== "DUPLICATE_KEY") path.pop();
        return at(e.pos[0], path, syntaxMessage(e.code, e.message, path));
      }),
    );
  }
  if (doc.contents === null) {
    throw new ValidationError([at(0, [], "the file is empty: expected a YAML mapping")]);
  }

  const dangling: Problem[] = [];
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) === undefined) {
        const offset = alias.range?.[0] ?? 0;
        dangling.push(at(offset, pathAt(doc, offset).path, `alias *${alias.source} has no anchor &${alias.source} before it`));
      }
    },
  });
  if (dangling.length > 0) throw new ValidationError(dangling);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ValidationError([at(0, [], `cannot read the YAML: ${(e as Error).message}`)]);
  }

  const result = schema.safeParse(value, { error: defaultMessage });
  if (result.success) return result.data;

  const problems: Problem[] = [];
  for (const issue of result.error.issues) {
    const path = issue.path;
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const found = locate(doc, [...path, key]);
        const offset = found.keyOffset ?? found.offset;
        problems.push(at(offset, [...path, key], `unknown field ${JSON.stringify(key)}${issue.message ? `; ${issue.message}` : ""}`));
      }
    } else {
      problems.push(at(locate(doc, path).offset, path, issue.message));
    }
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  throw new ValidationError(problems);
}

/** `policies[0].approvals.count`; keys that would read ambiguously are quoted. */
export function formatPath(path: readonly Segment[]): string {
  if (path.length === 0) return "(document)";
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (typeof seg === "string" && /^[A-Za-z_][\w-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

// Kept here rather than in each schema so every file read through parseYaml speaks alike;
// a message written on a schema itself still wins over these.
const defaultMessage: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case "invalid_type":
      if (iss.input === undefined) return "this field is required";
      return `expected ${article(iss.expected)}, got ${describe(iss.input)}`;
    case "unrecognized_keys": {
      const def = iss.inst?._zod.def as { shape?: Record<string, unknown> } | undefined;
      return def?.shape ? `allowed fields are ${Object.keys(def.shape).join(", ")}` : "";
    }
    case "invalid_value":
      return `expected one of ${iss.values.map((v) => String(v)).join(", ")}, got ${describe(iss.input)}`;
    case "too_small":
    case "too_big": {
      const bound = iss.code === "too_small" ? iss.minimum : iss.maximum;
      const side = iss.code === "too_small" ? "at least" : "at most";
      if (iss.origin === "array") return Number(bound) === 1 && side === "at least" ? "must not be empty" : `must have ${side} ${bound} items`;
      if (iss.origin === "string") return Number(bound) === 1 && side === "at least" ? "must not be empty" : `must be ${side} ${bound} characters long`;
      return `must be ${side} ${bound}`;
    }
    default:
      return undefined;
  }
};

function article(expected: string): string {
  const words: Record<string, string> = {
    object: "a mapping",
    array: "a list",
    string: "a string",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
    null: "null",
  };
  return words[expected] ?? expected;
}

function describe(value: unknown): string {
  if (value === null) return "nothing (null)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  const shown = JSON.stringify(value);
  return shown.length > 40 ? `${typeof value} ${shown.slice(0, 37)}...` : `${typeof value} ${shown}`;
}

function syntaxMessage(code: string, message: string, path: readonly Segment[]): string {
  if (code === "DUPLICATE_KEY") {
    const key = path[path.length - 1];
    return key === undefined ? "duplicate key in this mapping" : `duplicate field ${JSON.stringify(String(key))}: it is already set in this mapping`;
  }
  return `YAML syntax error: ${message}`;
}

interface Located {
  offset: number;
  keyOffset: number | null;
}

function start(node: Node | null | undefined): number | null {
  return node?.range ? node.range[0] : null;
}

function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function keyOf(pair: Pair): string | null {
  return isScalar(pair.key) ? String(pair.key.value) : null;
}

/**
 * The deepest node along a zod issue path, so a missing field points at the mapping that
 * lacks it. Walks the tree by hand instead of doc.getIn so that keys compare as the
 * strings zod saw (a YAML key `1` is the number 1 to getIn) and aliases are followed.
 */
function locate(doc: Document, path: readonly Segment[]): Located {
  let node: unknown = doc.contents;
  let best: Located = { offset: start(doc.contents as Node | null) ?? 0, keyOffset: null };
  for (const seg of path) {
    const here = deref(doc, node);
    let next: unknown;
    let keyOffset: number | null = null;
    if (isMap(here)) {
      const pair = here.items.find((p) => keyOf(p) === String(seg));
      if (!pair) return best;
      keyOffset = start(pair.key as Node);
      next = pair.value;
    } else if (isSeq(here) && typeof seg === "number") {
      next = here.items[seg];
    } else {
      return best;
    }
    const offset = start(next as Node | null) ?? keyOffset;
    if (offset === null) return best;
    best = { offset, keyOffset };
    node = next;
  }
  return best;
}

/** The field path of the innermost node that spans a byte offset, for syntax errors. */
function pathAt(doc: Document, offset: number): { path: Segment[]; inKey: boolean } {
  const path: Segment[] = [];
  let inKey = false;
  const spans = (node: unknown) => {
    const r = (node as Node | null)?.range;
    return r !== undefined && r !== null && offset >= r[0] && offset < Math.max(r[2], r[0] + 1);
  };
  let node: unknown = doc.contents;
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => spans(p.key) || spans(p.value));
      const key = pair ? keyOf(pair) : null;
      if (!pair || key === null) break;
      path.push(key);
      if (spans(pair.key)) {
        inKey = true;
        break;
      }
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((item) => spans(item));
      if (i < 0) break;
      path.push(i);
      node = node.items[i];
    } else {
      break;
    }
  }
  return { path, inKey };
}
