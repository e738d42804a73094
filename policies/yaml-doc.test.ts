import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ValidationError, type SourcePosition } from "./errors.js";
import { formatPath, parseYaml } from "./yaml-doc.js";

const schema = z.strictObject({
  server: z.strictObject({ host: z.string(), port: z.number().int().min(1).max(65535) }),
  tags: z.array(z.string().min(1)).optional(),
  mode: z.enum(["fast", "safe"]).optional(),
  limits: z.record(z.string(), z.number()).optional(),
});

function problems(text: string) {
  try {
    parseYaml(text, "conf.yaml", schema);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    const err = e as ValidationError;
    expect(err.code).toBe("INVALID_FILE");
    expect(err.kind).toBe("invalid");
    const list = err.problems as (SourcePosition & { message: string })[];
    return list.map(({ line, column, field, message }) => ({ line, column, field, message }));
  }
  throw new Error("expected a ValidationError");
}

describe("parseYaml", () => {
  it("returns the parsed value when it fits the schema", () => {
    const text = "server:\n  host: example.org\n  port: 5432\ntags: [a, b]\n";
    expect(parseYaml(text, "conf.yaml", schema)).toEqual({ server: { host: "example.org", port: 5432 }, tags: ["a", "b"] });
  });

  it("follows aliases", () => {
    const text = "server: &s\n  host: h\n  port: 1\nlimits: { a: 1 }\n";
    expect(parseYaml(text, "conf.yaml", schema).server).toEqual({ host: "h", port: 1 });
  });

  it.each([
    {
      name: "an unknown field points at its key and lists the allowed ones",
      text: "server:\n  host: h\n  port: 1\n  colour: red\n",
      want: [{ line: 4, column: 3, field: "server.colour", message: 'unknown field "colour"; allowed fields are host, port' }],
    },
    {
      name: "a wrong type points at the value",
      text: "server:\n  host: h\n  port: eighty\n",
      want: [{ line: 3, column: 9, field: "server.port", message: 'expected a number, got string "eighty"' }],
    },
    {
      name: "a missing field points at the mapping that lacks it",
      text: "tags: [x]\nserver:\n  host: h\n",
      want: [{ line: 3, column: 3, field: "server.port", message: "this field is required" }],
    },
    {
      name: "list items are indexed",
      text: "server: { host: h, port: 1 }\ntags:\n  - a\n  - ''\n",
      want: [{ line: 4, column: 5, field: "tags[1]", message: "must not be empty" }],
    },
    {
      name: "enum values are listed",
      text: "server: { host: h, port: 1 }\nmode: quick\n",
      want: [{ line: 2, column: 7, field: "mode", message: 'expected one of fast, safe, got string "quick"' }],
    },
    {
      name: "odd keys are quoted in the path",
      text: "server: { host: h, port: 1 }\nlimits:\n  app.io/cpu: many\n",
      want: [{ line: 3, column: 15, field: 'limits["app.io/cpu"]', message: 'expected a number, got string "many"' }],
    },
    {
      name: "ranges",
      text: "server: { host: h, port: 70000 }\n",
      want: [{ line: 1, column: 26, field: "server.port", message: "must be at most 65535" }],
    },
    {
      name: "several problems come back together, in file order",
      text: "mode: x\nserver:\n  port: 0\n  extra: 1\n",
      want: [
        { line: 1, column: 7, field: "mode", message: 'expected one of fast, safe, got string "x"' },
        { line: 3, column: 3, field: "server.host", message: "this field is required" },
        { line: 3, column: 9, field: "server.port", message: "must be at least 1" },
        { line: 4, column: 3, field: "server.extra", message: 'unknown field "extra"; allowed fields are host, port' },
      ],
    },
    {
      name: "a duplicate key is an error at the second one",
      text: "server:\n  host: a\n  port: 1\n  host: b\n",
      want: [{ line: 4, column: 3, field: "server.host", message: 'duplicate field "host": it is already set in this mapping' }],
    },
    {
      name: "a YAML syntax error",
      text: "server:\n  host: [a, b\n  port: 1\n",
      want: [expect.objectContaining({ line: 3, column: 3, field: "server", message: expect.stringMatching(/^YAML syntax error: Flow sequence/) })],
    },
    {
      name: "an empty document",
      text: "# nothing here\n",
      want: [{ line: 1, column: 1, field: "(document)", message: "the file is empty: expected a YAML mapping" }],
    },
    {
      name: "a document that is not a mapping",
      text: "- a\n- b\n",
      want: [{ line: 1, column: 1, field: "(document)", message: "expected a mapping, got a list" }],
    },
    {
      name: "a second document",
      text: "server: { host: h, port: 1 }\n---\nserver: { host: h, port: 2 }\n",
      want: [expect.objectContaining({ line: 2, column: 1, field: "(document)", message: expect.stringMatching(/multiple documents/) })],
    },
    {
      name: "an unresolved alias",
      text: "server: *nowhere\n",
      want: [{ line: 1, column: 9, field: "server", message: "alias *nowhere has no anchor &nowhere before it" }],
    },
  ])("$name", ({ text, want }) => {
    expect(problems(text)).toEqual(want);
  });

  it("puts file, line, column and field in the error message", () => {
    expect(() => parseYaml("server:\n  host: h\n  port: x\n", "conf.yaml", schema)).toThrow(
      'conf.yaml:3:9: server.port: expected a number, got string "x"',
    );
  });
});

describe("formatPath", () => {
  it.each([
    [[], "(document)"],
    [["policies", 0, "approvals", "count"], "policies[0].approvals.count"],
    [["labels", "app.kubernetes.io/name"], 'labels["app.kubernetes.io/name"]'],
    [[2, "x"], "[2].x"],
  ])("%j reads %s", (path, text) => {
    expect(formatPath(path)).toBe(text);
  });
});
