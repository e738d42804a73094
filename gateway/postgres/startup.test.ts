import { describe, expect, it } from "vitest";
import { parseDatabase, parseStartup } from "./startup.js";

function body(version: number, pairs: string[]): Buffer {
  const v = Buffer.alloc(4);
  v.writeInt32BE(version);
  return Buffer.concat([v, ...pairs.map((p) => Buffer.from(`${p}\0`)), Buffer.from([0])]);
}

describe("parseStartup", () => {
  it("reads user, target, login and database, passes session parameters on and notes _pq_ options", () => {
    const r = parseStartup(body(0x30002, ["user", "alice", "database", "app@db-1/shop", "application_name", "psql", "_pq_.x", "1"]));
    expect(r).toMatchObject({ minor: 2, user: "alice", target: "db-1", login: "app", database: "shop", unsupportedOptions: ["_pq_.x"] });
    expect([...r.params]).toEqual([["application_name", "psql"]]);
  });

  it("refuses what the grant decides, garbage and missing names, each with its SQLSTATE", () => {
    const cases: [string[], string, RegExp][] = [
      [["user", "a", "database", "db-1", "default_transaction_read_only", "off"], "42501", /set by the grant/],
      [["user", "a", "database", "db-1", "options", "-c statement_timeout=0"], "42501", /options parameter/],
      [["user", "a"], "3D000", /no database/],
      [["database", "db-1"], "28000", /no user name/],
      [["user", "a", "database", "db-1", "bad name", "x"], "08P01", /not valid/],
      [["user", "a", "database", "db-1", "user", "b"], "08P01", /twice/],
    ];
    for (const [pairs, sqlstate, message] of cases) {
      expect(() => parseStartup(body(196608, pairs)), pairs.join(" ")).toThrow(expect.objectContaining({ sqlstate, message: expect.stringMatching(message) }));
    }
    expect(() => parseStartup(body(0x20000, ["user", "a"]))).toThrow(/unsupported frontend protocol 2\.0/);
  });

  it("parses TARGET, TARGET/DB and LOGIN@TARGET/DB", () => {
    expect(parseDatabase("db-1")).toEqual({ target: "db-1", login: null, database: null });
    expect(parseDatabase("db-1/a/b")).toEqual({ target: "db-1", login: null, database: "a/b" });
    expect(() => parseDatabase("Not A Target")).toThrow(/does not name a target/);
  });
});
