// Just enough SQL lexing to split a simple-protocol query into its statements (so each
// CommandComplete is recorded against its own text) and to see statement text without
// comments (for the read-only guard). Quotes, dollar quotes, E'' escapes and nested block
// comments are honoured; anything else is passed through as text.

/** The statements of a query string, trimmed, without empty ones. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  walk(sql, (kind, from, to) => {
    if (kind === "semicolon") {
      const s = sql.slice(start, from).trim();
      if (s) out.push(s);
      start = to;
    }
  });
  const last = sql.slice(start).trim();
  if (last) out.push(last);
  return out;
}

/** The text with every comment replaced by one space. */
export function withoutComments(sql: string): string {
  let out = "";
  let at = 0;
  walk(sql, (kind, from, to) => {
    if (kind === "comment") {
      out += `${sql.slice(at, from)} `;
      at = to;
    }
  });
  return out + sql.slice(at);
}

type Kind = "semicolon" | "comment";

function walk(sql: string, see: (kind: Kind, from: number, to: number) => void): void {
  const n = sql.length;
  let i = 0;
  let parens = 0;
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      const to = end < 0 ? n : end;
      see("comment", i, to);
      i = to;
    } else if (c === "/" && next === "*") {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === "/" && sql[j + 1] === "*") {
          depth++;
          j += 2;
        } else if (sql[j] === "*" && sql[j + 1] === "/") {
          depth--;
          j += 2;
        } else j++;
      }
      see("comment", i, j);
      i = j;
    } else if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1] ?? "") && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? "");
      i = skipQuoted(sql, i + 1, "'", escapes);
    } else if (c === '"') {
      i = skipQuoted(sql, i + 1, '"', false);
    } else if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 65));
      const prev = sql[i - 1] ?? "";
      if (tag && !/[A-Za-z0-9_]/.test(prev)) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? n : end + tag[0].length;
      } else i++;
    } else if (c === "(") {
      parens++;
      i++;
    } else if (c === ")") {
      parens = Math.max(0, parens - 1);
      i++;
    } else if (c === ";" && parens === 0) {
      see("semicolon", i, i + 1);
      i++;
    } else i++;
  }
}

function skipQuoted(sql: string, i: number, quote: string, backslashEscapes: boolean): number {
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (backslashEscapes && c === "\\") i += 2;
    else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return n;
}
