// The lint step that enforces the house import rules must catch each kind of violation.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { tempDir } from "./support/gateway.js";
// @ts-expect-error: a plain .mjs script without type declarations
import { violations } from "../scripts/check-imports.mjs";

const root = tempDir("jg-imports");
const put = (path: string, text: string) => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
};
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("allows the arrows of the house and refuses every other edge", () => {
  put("policies/index.ts", 'export * from "./users.js";\nimport { z } from "zod";\n');
  put("policies/users.ts", 'import { x } from "../vault/index.js";\n');
  put("vault/index.ts", 'export { a } from "../gateway/serve.js";\n');
  put("recorder/index.ts", 'const m = await import("../policies/index.js");\n');
  put("gateway/serve.ts", 'import { a } from "../policies/index.js";\nimport { b } from "../policies/users.js";\nimport "../test/x.js";\n');
  const found = (violations(root) as string[]).sort();
  expect(found).toHaveLength(5);
  expect(found.join("\n")).toContain('policies/users.ts: imports "../vault/index.js": policies/ is a library');
  expect(found.join("\n")).toContain('vault/index.ts: imports "../gateway/serve.js"');
  expect(found.join("\n")).toContain('recorder/index.ts: imports "../policies/index.js"');
  expect(found.join("\n")).toContain("reach policies/ only through policies/index.js");
  expect(found.join("\n")).toContain("gateway/ must not depend on test/");
});

it("finds nothing to object to in this repository", () => {
  expect(violations()).toEqual([]);
});
