// Prints benchmark results as a plain-text table. Every benchmark measures jitgate and the
// direct path side by side in one run, so the ratio is the number to read: the machines
// are shared and noisy, and absolute times alone mean little.

export interface Row {
  measure: string;
  jitgate: number;
  direct: number;
  /** Decimal places for the two values; 2 unless told. */
  digits?: number;
  /** Unit shown after the measure, such as "ms". */
  unit?: string;
}

/** jitgate / direct, or "-" when the direct value is zero (no ratio to speak of). */
export function ratio(jitgate: number, direct: number): string {
  if (direct === 0) return jitgate === 0 ? "1.00x" : "-";
  return `${(jitgate / direct).toFixed(2)}x`;
}

function format(value: number, digits: number): string {
  return Number.isInteger(value) && digits === 0 ? String(value) : value.toFixed(digits);
}

/** Any table: the first column left-aligned, the rest right-aligned. */
export function printGrid(title: string, header: string[], rows: string[][]): void {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(rule);
  for (const r of rows) console.log(line(r));
}

/** The comparison table: measure, jitgate, direct, ratio. */
export function printTable(title: string, rows: Row[], directLabel = "direct"): void {
  printGrid(
    title,
    ["measure", "jitgate", directLabel, "ratio"],
    rows.map((r) => {
      const digits = r.digits ?? 2;
      const measure = r.unit ? `${r.measure} (${r.unit})` : r.measure;
      return [measure, format(r.jitgate, digits), format(r.direct, digits), ratio(r.jitgate, r.direct)];
    }),
  );
}
