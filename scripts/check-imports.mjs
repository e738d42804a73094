#!/usr/bin/env node
// Enforces the house rules of DESIGN.md on import edges, which no type checker sees:
// the libraries (policies, vault, recorder) import none of each other and never gateway/,
// and code outside a library reaches it only through its index.ts.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const LIBRARIES = ["policies", "vault", "recorder"];
const SCANNED = [...LIBRARIES, "gateway", "bench", "test"];
const SPECIFIER = /(?:^|\s)(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

function* walk(dir) {
  let entries;
  try { entries = readdirSync(dir); } catch { return; }
  for (const name of entries) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (/\.(ts|mts|js|mjs)$/.test(name)) yield path;
  }
}

export function violations(root = repoRoot) {
  const top = (abs) => relative(root, abs).split(sep)[0];
  const found = [];
  for (const folder of SCANNED) {
    for (const file of walk(join(root, folder))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(SPECIFIER)) {
        const spec = m[1] ?? m[2] ?? m[3];
        if (!spec || !spec.startsWith(".")) continue;
        const target = resolve(dirname(file), spec);
        const from = top(file);
        const to = top(target);
        const where = `${relative(root, file)}: imports "${spec}"`;
        if (LIBRARIES.includes(from) && to !== from) {
          found.push(`${where}: ${from}/ is a library and may import only its own files and packages`);
        } else if (from === "gateway" && (to === "test" || to === "bench")) {
          found.push(`${where}: gateway/ must not depend on ${to}/`);
        } else if (from === "gateway" && LIBRARIES.includes(to) && relative(join(root, to), target).replace(/\.[jt]s$/, "") !== "index") {
          found.push(`${where}: reach ${to}/ only through ${to}/index.js`);
        }
      }
    }
  }
  return found;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const list = violations(process.argv[2] ? resolve(process.argv[2]) : repoRoot);
  for (const v of list) console.error(v);
  if (list.length > 0) {
    console.error(`\n${list.length} import rule violation(s); see "Rules of the house" in DESIGN.md`);
    process.exit(1);
  }
}
