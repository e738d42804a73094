import { describe, expect, it } from "vitest";
import { readOnlyViolation } from "./read-only.js";
import { splitStatements, withoutComments } from "./sql-text.js";

describe("splitStatements", () => {
  it("splits on semicolons outside quotes, dollar quotes, comments and parentheses", () => {
    expect(splitStatements("SELECT 1; SELECT ';' ; -- a; comment\nSELECT $$x;y$$; SELECT $f$ a;b $f$;")).toEqual(["SELECT 1", "SELECT ';'", "-- a; comment\nSELECT $$x;y$$", "SELECT $f$ a;b $f$"]);
    expect(splitStatements("SELECT E'it\\'s;'; /* a /* nested; */ ; */ SELECT \"a;b\"")).toEqual(["SELECT E'it\\'s;'", "/* a /* nested; */ ; */ SELECT \"a;b\""]);
    expect(splitStatements(" ; ;")).toEqual([]);
  });

  it("drops comments for the read-only check", () => {
    expect(withoutComments("SELECT 1 -- read_only\n, 2 /* x */")).toBe("SELECT 1  \n, 2  ");
  });
});

describe("readOnlyViolation", () => {
  it("refuses ways out of read-only mode, even hidden in comments or dynamic SQL, and lets reads through", () => {
    for (const sql of [
      "SET default_transaction_read_only = off",
      "BEGIN READ/**/WRITE",
      "start transaction read  write",
      "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
      "SELECT set_config('default_transaction_read_only', 'off', false)",
      "DO $$ BEGIN EXECUTE 'SET x = 1'; END $$",
      "SELECT 1; do $$ begin end $$",
    ]) {
      expect(readOnlyViolation(sql), sql).not.toBeNull();
    }
    for (const sql of ["SELECT * FROM items", "BEGIN READ ONLY", "SELECT 'done' AS status", "SHOW transaction_isolation"]) {
      expect(readOnlyViolation(sql), sql).toBeNull();
    }
  });
});
