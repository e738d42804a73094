// One value, one text: what gets hashed must come out byte-identical whether it is built
// in memory or read back from jsonb, whose key order and spacing are its own. Keys sort by
// UTF-16 code units and numbers print as ECMAScript does, the same choices as RFC 8785.

/**
 * Deterministic JSON: object keys sorted at every depth, no whitespace, `undefined`
 * fields dropped, Dates as ISO strings. Non-finite numbers become null, as in
 * JSON.stringify. Throws on bigint, cycles and an invalid Date, which have no stable text.
 */
export function canonicalJson(value: unknown): string {
  const text = write(value, []);
  if (text === undefined) throw new TypeError(`canonicalJson: ${typeof value} has no JSON form`);
  return text;
}

function write(value: unknown, ancestors: object[]): string | undefined {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    case "bigint":
      throw new TypeError("canonicalJson: bigint has no exact JSON number; pass a string");
  }
  if (value === null) return "null";
  if (value instanceof Date) {
    // toISOString throws on an invalid Date; a silent null would hash a lie.
    return JSON.stringify(value.toISOString());
  }
  const obj = value as object;
  if (ancestors.includes(obj)) throw new TypeError("canonicalJson: cyclic value");
  ancestors.push(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item) => write(item, ancestors) ?? "null").join(",")}]`;
    }
    const withToJson = obj as { toJSON?: unknown };
    if (typeof withToJson.toJSON === "function") {
      return write((withToJson.toJSON as () => unknown).call(obj), ancestors);
    }
    const parts: string[] = [];
    for (const key of Object.keys(obj).sort()) {
      const text = write((obj as Record<string, unknown>)[key], ancestors);
      if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${parts.join(",")}}`;
  } finally {
    ancestors.pop();
  }
}
