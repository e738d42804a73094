import { describe, expect, it } from "vitest";
import { ValidationError, type SourcePosition } from "./errors.js";
import { parsePolicyFile } from "./policy-file.js";

type Problem = SourcePosition & { message: string };

function problems(text: string): Omit<Problem, "file">[] {
  try {
    parsePolicyFile(text, "team.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    const list = (e as ValidationError).problems as Problem[];
    for (const p of list) expect(p.file).toBe("team.yaml");
    return list.map(({ line, column, field, message }) => ({ line, column, field, message }));
  }
  throw new Error("expected a ValidationError");
}

const full = `policies:
  - name: web-ops
    description: shell on the web tier
    subjects: { roles: [requester], users: [alice], groups: [vendors] }
    targets: [web-*]
    labels: { env: prod }
    logins: [root, deploy]
    maxDuration: 2h
    requestTtl: 4h
    approvals: { count: 2, from: { roles: [approver], users: [carol] } }
    requireReason: false
    autoApprove:
      - subjects: { groups: [oncall] }
      - window: { days: [sat, sun], from: "22:00", to: "06:00", timezone: Europe/Berlin }
      - subjects: { users: [bob] }
        window: { from: "09:00", to: "24:00" }
    session: { forwarding: true, readOnly: true, statementTimeout: 5m, redactParameters: true }
  - name: db.read_only-1
    subjects: { roles: [auditor] }
    labels: { kind: db }
    logins: ["*"]
    maxDuration: 30d
    approvals: { count: 0 }
`;

describe("parsePolicyFile", () => {
  it("normalises durations, windows and selectors", () => {
    const [web, db] = parsePolicyFile(full, "team.yaml");
    expect(web).toEqual({
      name: "web-ops",
      description: "shell on the web tier",
      subjects: { roles: ["requester"], users: ["alice"], groups: ["vendors"] },
      targets: ["web-*"],
      labels: { env: "prod" },
      logins: ["root", "deploy"],
      maxDurationMs: 2 * 3_600_000,
      requestTtlMs: 4 * 3_600_000,
      approvals: { count: 2, from: { roles: ["approver"], users: ["carol"], groups: [] } },
      requireReason: false,
      autoApprove: [
        { subjects: { roles: [], users: [], groups: ["oncall"] }, window: null },
        { subjects: null, window: { days: ["sat", "sun"], fromMinute: 22 * 60, toMinute: 6 * 60, timezone: "Europe/Berlin" } },
        {
          subjects: { roles: [], users: ["bob"], groups: [] },
          window: { days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], fromMinute: 9 * 60, toMinute: 24 * 60, timezone: "UTC" },
        },
      ],
      session: { forwarding: true, readOnly: true, statementTimeoutMs: 300_000, redactParameters: true },
    });
    expect(db).toEqual({
      name: "db.read_only-1",
      description: null,
      subjects: { roles: ["auditor"], users: [], groups: [] },
      targets: null,
      labels: { kind: "db" },
      logins: ["*"],
      maxDurationMs: 30 * 86_400_000,
      requestTtlMs: 86_400_000,
      approvals: { count: 0, from: { roles: ["approver", "admin"], users: [], groups: [] } },
      requireReason: true,
      autoApprove: [],
      session: { forwarding: false, readOnly: false, statementTimeoutMs: null, redactParameters: false },
    });
  });

  it("reads the example from the design", () => {
    const text = `policies:
  - name: web-ops
    subjects: { roles: [requester] }
    targets: [web-*]
    logins: [root, deploy]
    maxDuration: 2h
    approvals: { count: 1, from: { roles: [approver] } }
    requireReason: true
    session: { forwarding: false, readOnly: false }
`;
    expect(parsePolicyFile(text, "p.yaml")).toHaveLength(1);
  });

  it("lets statementTimeout be switched off with null", () => {
    const text = full.replace("statementTimeout: 5m", "statementTimeout: null");
    expect(parsePolicyFile(text, "p.yaml")[0]?.session.statementTimeoutMs).toBeNull();
  });

  it("accepts an empty list of policies", () => {
    expect(parsePolicyFile("policies: []\n", "p.yaml")).toEqual([]);
  });

  it.each([
    {
      name: "unknown field",
      change: ["    requireReason: false\n", "    requireReason: false\n    reviewers: [dave]\n"],
      want: [
        {
          line: 12,
          column: 5,
          field: "policies[0].reviewers",
          message:
            'unknown field "reviewers"; allowed fields are name, description, subjects, targets, labels, logins, maxDuration, requestTtl, approvals, requireReason, autoApprove, session',
        },
      ],
    },
    {
      name: "unknown field in a nested mapping",
      change: ["readOnly: true,", "readonly: true,"],
      want: [
        {
          line: 17,
          column: 34,
          field: "policies[0].session.readonly",
          message: 'unknown field "readonly"; allowed fields are forwarding, readOnly, statementTimeout, redactParameters',
        },
      ],
    },
    {
      name: "wrong type",
      change: ["count: 2,", 'count: "2",'],
      want: [{ line: 10, column: 25, field: "policies[0].approvals.count", message: 'expected a number, got string "2"' }],
    },
    {
      name: "wrong type for a list",
      change: ["logins: [root, deploy]", "logins: root"],
      want: [{ line: 7, column: 13, field: "policies[0].logins", message: 'expected a list, got string "root"' }],
    },
    {
      name: "bad duration",
      change: ["maxDuration: 2h", "maxDuration: 2 hours"],
      want: [
        {
          line: 8,
          column: 18,
          field: "policies[0].maxDuration",
          message: '"2 hours" is not a duration: use a positive number with a unit, like 30m, 2h or 1d',
        },
      ],
    },
    {
      name: "duration over the 30 day limit",
      change: ["maxDuration: 30d", "maxDuration: 31d"],
      want: [{ line: 22, column: 18, field: "policies[1].maxDuration", message: "31d is longer than the limit of 30d" }],
    },
    {
      name: "duplicate name",
      change: ["name: db.read_only-1", "name: web-ops"],
      want: [{ line: 18, column: 11, field: "policies[1].name", message: 'duplicate policy name "web-ops": policies[0] already uses it' }],
    },
    {
      name: "YAML syntax error",
      change: ["logins: [root, deploy]", "logins: [root, deploy"],
      want: [
        {
          line: 8,
          column: 5,
          field: "policies[0]",
          message: "YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]",
        },
      ],
    },
    {
      name: "duplicate key",
      change: ["    requestTtl: 4h\n", "    requestTtl: 4h\n    maxDuration: 1h\n"],
      want: [{ line: 10, column: 5, field: "policies[0].maxDuration", message: 'duplicate field "maxDuration": it is already set in this mapping' }],
    },
    {
      name: "role outside the four",
      change: ["roles: [auditor]", "roles: [superuser]"],
      want: [
        {
          line: 19,
          column: 25,
          field: "policies[1].subjects.roles[0]",
          message: 'expected one of requester, approver, admin, auditor, got string "superuser"',
        },
      ],
    },
    {
      name: "bad policy name",
      change: ["name: web-ops", "name: Web Ops"],
      want: [
        {
          line: 2,
          column: 11,
          field: "policies[0].name",
          message: 'use 1 to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
        },
      ],
    },
    {
      name: "approvals out of range",
      change: ["count: 0", "count: 11"],
      want: [{ line: 23, column: 25, field: "policies[1].approvals.count", message: "must be at most 10" }],
    },
    {
      name: "neither targets nor labels",
      change: ["    labels: { kind: db }\n", ""],
      want: [{ line: 18, column: 5, field: "policies[1]", message: "give targets, labels or both, to say which targets this policy covers" }],
    },
    {
      name: "empty subjects",
      change: ["subjects: { roles: [auditor] }", "subjects: { roles: [] }"],
      want: [{ line: 19, column: 15, field: "policies[1].subjects", message: "name at least one role, user or group" }],
    },
    {
      name: "unknown time zone",
      change: ["timezone: Europe/Berlin", "timezone: Europe/Bonn"],
      want: [
        {
          line: 14,
          column: 75,
          field: "policies[0].autoApprove[1].window.timezone",
          message: "not a known IANA time zone, like Europe/Berlin or UTC",
        },
      ],
    },
    {
      name: "empty window",
      change: ['to: "06:00"', 'to: "22:00"'],
      want: [
        {
          line: 14,
          column: 56,
          field: "policies[0].autoApprove[1].window.to",
          message: "from and to are the same time: the window would be empty",
        },
      ],
    },
    {
      name: "bad clock time",
      change: ['from: "09:00"', 'from: "9am"'],
      want: [
        {
          line: 16,
          column: 25,
          field: "policies[0].autoApprove[2].window.from",
          message: 'use 24-hour "HH:MM", like "09:00" or "18:30"',
        },
      ],
    },
    {
      name: "missing required field",
      change: ["    approvals: { count: 0 }\n", ""],
      want: [{ line: 18, column: 5, field: "policies[1].approvals", message: "this field is required" }],
    },
  ])("reports $name with file, line and field", ({ change, want }) => {
    const [from, to] = change as [string, string];
    expect(full).toContain(from);
    expect(problems(full.replace(from, to))).toEqual(want);
  });

  it("reports every problem at once", () => {
    const text = full.replace("count: 2,", 'count: "2",').replace("maxDuration: 30d", "maxDuration: 5").replace("name: db.read_only-1", "name: web-ops");
    expect(problems(text).map((p) => `${p.line} ${p.field}`)).toEqual([
      "10 policies[0].approvals.count",
      "18 policies[1].name",
      "22 policies[1].maxDuration",
    ]);
  });

  it("explains an empty file", () => {
    expect(problems("")).toEqual([{ line: 1, column: 1, field: "(document)", message: "the file is empty: expected a YAML mapping" }]);
  });
});
