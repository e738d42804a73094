import { invalid } from "./errors.js";

const UNITS = [
  { unit: "d", ms: 86_400_000 },
  { unit: "h", ms: 3_600_000 },
  { unit: "m", ms: 60_000 },
  { unit: "s", ms: 1_000 },
  { unit: "ms", ms: 1 },
] as const;

// "ms" must come before "m" in the alternation or "500ms" would read as 500m + "s".
const PART = /(\d+)(ms|d|h|m|s)/y;
const EXPECTED = "use a positive number with a unit, like 30m, 2h or 1d";

/**
 * Reads "90s", "15m", "2h", "1d", "1h30m", "500ms" into milliseconds. Units must come
 * from largest to smallest, each once, so "30m1h" or "1h1h" (likely typos) are refused
 * rather than silently summed.
 */
export function parseDuration(text: string): number {
  const fail = (why: string = EXPECTED) =>
    invalid("INVALID_DURATION", `${JSON.stringify(text)} is not a duration: ${why}`, { value: text });
  if (text.length === 0) throw fail();
  let total = 0;
  let at = 0;
  let lastRank = -1;
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (m === null) throw fail();
    const [whole, digits, unit] = m as unknown as [string, string, string];
    const rank = UNITS.findIndex((u) => u.unit === unit);
    if (rank <= lastRank) throw fail(`write the units from largest to smallest, each once, like 1h30m`);
    lastRank = rank;
    const amount = Number(digits);
    const unitMs = UNITS[rank]?.ms ?? 1;
    total += amount * unitMs;
    if (!Number.isSafeInteger(total)) throw fail("it is far too long");
    at += whole.length;
  }
  if (total <= 0) throw fail();
  return total;
}

/** The shortest readable form: 5_400_000 → "1h30m", 45_000 → "45s", 172_800_000 → "2d". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  let left = Math.round(Math.abs(ms));
  if (left === 0) return "0s";
  let out = ms < 0 ? "-" : "";
  for (const { unit, ms: size } of UNITS) {
    const n = Math.floor(left / size);
    if (n > 0) {
      out += `${n}${unit}`;
      left -= n * size;
    }
  }
  return out;
}
