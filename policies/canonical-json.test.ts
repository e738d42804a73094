import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical-json.js";

describe("canonicalJson", () => {
  it("sorts keys at every depth and drops whitespace", () => {
    const value = { b: 1, a: { d: [3, { z: true, y: null }], c: "x" } };
    expect(canonicalJson(value)).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it("gives the same text whatever order the keys were built in", () => {
    const one = { actor: "alice", data: { grantId: "g", by: "bob" }, seq: 1 };
    const two = { seq: 1, data: { by: "bob", grantId: "g" }, actor: "alice" };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  it("sorts by UTF-16 code units, not by locale", () => {
    expect(canonicalJson({ b: 1, B: 2, "é": 3, a: 4, "10": 5, "9": 6 })).toBe('{"10":5,"9":6,"B":2,"a":4,"b":1,"é":3}');
  });

  it("drops undefined fields but keeps null, and writes undefined array slots as null", () => {
    expect(canonicalJson({ a: undefined, b: null, c: [undefined, 1] })).toBe('{"b":null,"c":[null,1]}');
  });

  it("writes Dates as ISO strings, at any depth", () => {
    const at = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6));
    expect(canonicalJson({ at, nested: [at] })).toBe('{"at":"2024-01-02T03:04:05.006Z","nested":["2024-01-02T03:04:05.006Z"]}');
    expect(canonicalJson(at)).toBe('"2024-01-02T03:04:05.006Z"');
  });

  it("escapes strings as JSON does and prints numbers as ECMAScript does", () => {
    expect(canonicalJson({ s: 'a"b\\c\n\u0001', n: [1.5, -0, 1e21, 1e-7] })).toBe(
      '{"n":[1.5,0,1e+21,1e-7],"s":"a\\"b\\\\c\\n\\u0001"}',
    );
    expect(canonicalJson([NaN, Infinity])).toBe("[null,null]");
  });

  it("round-trips through JSON.parse to the same text", () => {
    const value = { z: { y: [1, "two", { x: false }] }, a: "é\u2028" };
    const text = canonicalJson(value);
    expect(canonicalJson(JSON.parse(text))).toBe(text);
  });

  it("refuses values without a stable text", () => {
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
    expect(() => canonicalJson({ n: 1n })).toThrow(/bigint/);
    expect(() => canonicalJson({ at: new Date(Number.NaN) })).toThrow(RangeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
  });

  it("allows the same object twice when it is not its own ancestor", () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
  });
});
