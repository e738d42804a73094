// Human output: aligned tables and relative times. Machine output is --json.
export type Column<T> = [header: string, value: (row: T) => string];

export function table<T>(rows: T[], columns: Column<T>[]): string {
  if (rows.length === 0) return "(none)";
  const cells = rows.map((r) => columns.map(([, f]) => clean(f(r))));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (vals: string[]) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(columns.map(([h]) => h.toUpperCase())), ...cells.map(line)].join("\n");
}

// Values come from the server; a name with control characters must not repaint the terminal.
const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

export function when(iso: string | null, now = Date.now()): string {
  if (!iso) return "-";
  const t = Date.parse(iso);
  const d = t - now;
  const abs = Math.abs(d);
  const span = abs < 60_000 ? `${Math.round(abs / 1000)}s` : abs < 3600_000 ? `${Math.round(abs / 60_000)}m` : abs < 86400_000 ? `${(abs / 3600_000).toFixed(1)}h` : `${(abs / 86400_000).toFixed(1)}d`;
  return `${iso.slice(0, 19).replace("T", " ")}Z (${d >= 0 ? "in " : ""}${span}${d < 0 ? " ago" : ""})`;
}

export function short(id: string | null): string {
  return id ?? "-";
}
