import { describe, expect, it } from "vitest";
import type { SqlStatement } from "../../recorder/index.js";
import { parseBind, rowsOf, StatementTracker } from "./statements.js";

const c = (s: string) => s.charCodeAt(0);
const z = (s: string) => Buffer.from(`${s}\0`);
const err = (code: string, msg: string) => Buffer.concat([Buffer.from("SERROR\0"), Buffer.from(`C${code}\0M${msg}\0`), Buffer.from([0])]);

function bind(portal: string, stmt: string, params: (string | null)[], binary = false): Buffer {
  const parts = [z(portal), z(stmt), Buffer.from([0, binary ? 1 : 0]), ...(binary ? [Buffer.from([0, 1])] : [])];
  const n = Buffer.alloc(2);
  n.writeInt16BE(params.length);
  parts.push(n);
  for (const p of params) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(p === null ? -1 : Buffer.byteLength(p));
    parts.push(len);
    if (p !== null) parts.push(Buffer.from(p));
  }
  parts.push(Buffer.from([0, 0]));
  return Buffer.concat(parts);
}

function tracker() {
  const out: SqlStatement[] = [];
  return { t: new StatementTracker((s) => out.push(s)), out };
}

describe("StatementTracker", () => {
  it("records each statement of a simple query with its tag and rows, and the failing one with its SQLSTATE", () => {
    const { t, out } = tracker();
    t.fromClient(c("Q"), z("SELECT 1; SELECT 'a;b' FROM x; SELEC 2"));
    t.fromServer(c("T"), null);
    t.fromServer(c("D"), null);
    t.fromServer(c("C"), z("SELECT 1"));
    t.fromServer(c("D"), null);
    t.fromServer(c("D"), null);
    t.fromServer(c("C"), z("SELECT 2"));
    t.fromServer(c("E"), err("42601", "syntax error"));
    t.fromServer(c("Z"), Buffer.from("I"));
    expect(out.map((s) => [s.text, s.tag, s.rows, s.sqlstate, s.stage])).toEqual([
      ["SELECT 1", "SELECT 1", 1, null, null],
      ["SELECT 'a;b' FROM x", "SELECT 2", 2, null, null],
      ["SELEC 2", null, null, "42601", "simple"],
    ]);
    expect(t.busy).toBe(false);
  });

  it("records the extended protocol with parameters, named statements and errors at parse, bind and execute", () => {
    const { t, out } = tracker();
    // Parse + Bind + Execute + Sync of a named statement, then a second execution.
    t.fromClient(c("P"), Buffer.concat([z("s1"), z("SELECT $1::int"), Buffer.from([0, 0])]));
    t.fromClient(c("B"), bind("", "s1", ["7"]));
    t.fromClient(c("E"), Buffer.concat([z(""), Buffer.alloc(4)]));
    t.fromClient(c("S"), null);
    for (const [type, body] of [["1", null], ["2", null], ["D", null], ["C", z("SELECT 1")], ["Z", Buffer.from("I")]] as const) t.fromServer(c(type), body);
    t.fromClient(c("B"), bind("", "s1", [null]));
    t.fromClient(c("E"), Buffer.concat([z(""), Buffer.alloc(4)]));
    t.fromClient(c("S"), null);
    t.fromServer(c("E"), err("22P02", "invalid input"));
    t.fromServer(c("Z"), Buffer.from("I"));
    // A parse error skips the rest up to Sync.
    t.fromClient(c("P"), Buffer.concat([z(""), z("SELEC"), Buffer.from([0, 0])]));
    t.fromClient(c("B"), bind("", "", []));
    t.fromClient(c("E"), Buffer.concat([z(""), Buffer.alloc(4)]));
    t.fromClient(c("S"), null);
    t.fromServer(c("E"), err("42601", "syntax"));
    t.fromServer(c("Z"), Buffer.from("I"));
    // An execute error.
    t.fromClient(c("P"), Buffer.concat([z(""), z("SELECT 1/0"), Buffer.from([0, 0])]));
    t.fromClient(c("B"), bind("", "", [], true));
    t.fromClient(c("E"), Buffer.concat([z(""), Buffer.alloc(4)]));
    t.fromClient(c("S"), null);
    for (const [type, body] of [["1", null], ["2", null], ["E", err("22012", "division by zero")], ["Z", Buffer.from("I")]] as const) t.fromServer(c(type), body);
    expect(out.map((s) => [s.text, s.params, s.tag, s.rows, s.sqlstate, s.stage])).toEqual([
      ["SELECT $1::int", ["7"], "SELECT 1", 1, null, null],
      ["SELECT $1::int", [null], null, null, "22P02", "bind"],
      ["SELEC", null, null, null, "42601", "parse"],
      ["SELECT 1/0", [], null, null, "22012", "execute"],
    ]);
    expect(t.busy).toBe(false);
  });

  it("counts COPY rows from the tag and keeps durations", () => {
    const { t, out } = tracker();
    t.fromClient(c("Q"), z("COPY t FROM STDIN"));
    t.fromServer(c("G"), null);
    t.fromServer(c("C"), z("COPY 3"));
    t.fromServer(c("Z"), Buffer.from("I"));
    expect(out[0]).toMatchObject({ text: "COPY t FROM STDIN", tag: "COPY 3", rows: 3, error: null });
    expect(out[0]?.durationMs).toBeGreaterThanOrEqual(0);
  });
});

describe("parseBind and rowsOf", () => {
  it("shows binary parameters as hex and refuses a truncated Bind", () => {
    expect(parseBind(bind("p", "s", ["\x01\x02"], true))).toEqual({ portal: "p", statement: "s", params: ["\\x0102"] });
    expect(parseBind(bind("p", "s", ["abc"]).subarray(0, 12))).toBeNull();
  });

  it("reads row counts from command tags", () => {
    expect([rowsOf("SELECT 3"), rowsOf("INSERT 0 1"), rowsOf("UPDATE 2"), rowsOf("COPY 10"), rowsOf("CREATE TABLE")]).toEqual([3, 1, 2, 10, null]);
  });
});
