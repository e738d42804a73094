import { describe, expect, it } from "vitest";
import { globAny, globMatch } from "./glob.js";

describe("globMatch", () => {
  it.each([
    ["web-*", "web-1", true],
    ["web-*", "web-", true],
    ["web-*", "db-1", false],
    ["*", "", true],
    ["*", "anything", true],
    ["", "", true],
    ["", "x", false],
    ["web-?", "web-1", true],
    ["web-?", "web-12", false],
    ["web-?", "web-", false],
    ["*-db-*", "eu-db-1", true],
    ["*-db-*", "eu-db", false],
    ["a*b*c", "axxbyyc", true],
    ["a*b*c", "axxbyy", false],
    ["a**c", "ac", true],
    ["*a", "banana", true],
    ["*an*an*", "banana", true],
    ["Web-*", "web-1", false],
    ["db.eu", "db.eu", true],
    ["db.eu", "dbxeu", false],
    ["db.(eu)+", "db.(eu)+", true],
    ["db.(eu)+", "db.eueu", false],
    ["[ab]", "a", false],
    ["[ab]", "[ab]", true],
    ["^root$", "root", false],
    ["a\\*", "a\\xyz", true],
    ["?", "é", true],
    ["?", "😀", true],
    ["??", "😀", false],
  ])("%j against %j is %s", (pattern, value, expected) => {
    expect(globMatch(pattern, value)).toBe(expected);
  });

  it("stays fast on patterns that make regexes backtrack", () => {
    const started = Date.now();
    expect(globMatch("*a*a*a*a*a*a*a*a*b", "a".repeat(5000))).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("globAny", () => {
  it("matches when any pattern does", () => {
    expect(globAny(["root", "deploy-*"], "deploy-ci")).toBe(true);
    expect(globAny(["root", "deploy-*"], "admin")).toBe(false);
    expect(globAny([], "root")).toBe(false);
  });
});
