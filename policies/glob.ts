/**
 * Shell-style name matching: `*` is any run of characters (also none), `?` exactly one;
 * everything else is literal and case-sensitive. No regular expression is built, so a
 * name such as "db.(eu)+" means exactly itself, and no pattern can backtrack badly.
 */
export function globMatch(pattern: string, value: string): boolean {
  // Code points, so `?` matches one emoji or accented letter, not half of a surrogate pair.
  const p = Array.from(pattern);
  const v = Array.from(value);
  let pi = 0;
  let vi = 0;
  // Where the last `*` was seen and how much of the value it had swallowed then.
  let starAt = -1;
  let starValue = 0;
  while (vi < v.length) {
    const c = p[pi];
    if (c === "*") {
      starAt = pi++;
      starValue = vi;
    } else if (c !== undefined && (c === "?" || c === v[vi])) {
      pi++;
      vi++;
    } else if (starAt >= 0) {
      pi = starAt + 1;
      vi = ++starValue;
    } else {
      return false;
    }
  }
  while (p[pi] === "*") pi++;
  return pi === p.length;
}

/** True when any of the patterns matches. */
export function globAny(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => globMatch(p, value));
}
