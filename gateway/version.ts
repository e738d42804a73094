import { readFileSync } from "node:fs";

// Read once from package.json so the CLI, the API and the OpenAPI document agree.
export const VERSION: string = (() => {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "jitgate" && pkg.version) return pkg.version;
    } catch {
      // try the next location: the layout differs between source and dist/
    }
  }
  return "0.0.0";
})();
