import { describe, expect, it } from "vitest";
import { checkPath, hostName, route } from "./routing.js";

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return null;
};

describe("routing", () => {
  it("routes /t/NAME/rest to NAME with the rest as the target's path", () => {
    expect(route("gw:8444", "/t/web-1/a/b?x=1&y=2", null)).toEqual({
      kind: "target", target: "web-1", mode: "prefix", prefix: "/t/web-1", upstreamPath: "/a/b?x=1&y=2", path: "/a/b", query: "x=1&y=2",
    });
    expect(route("gw", "/t/web-1/", null)).toMatchObject({ target: "web-1", upstreamPath: "/" });
    expect(route("gw", "/t/web-1?x=1", null)).toEqual({ kind: "redirect", location: "/t/web-1/?x=1" });
  });

  it("routes TARGET.<domain> by host name, keeping the whole path", () => {
    expect(route("Grafana.GW.example:443", "/d/abc?from=now", "gw.example")).toMatchObject({ kind: "target", target: "grafana", mode: "host", prefix: "", upstreamPath: "/d/abc?from=now" });
    // The gateway's own host and unrelated names fall back to path routing.
    expect(route("gw.example", "/t/web-1/x", "gw.example")).toMatchObject({ mode: "prefix", target: "web-1" });
    expect(route("notgw.example", "/", "gw.example")).toEqual({ kind: "gateway", path: "/", query: "" });
  });

  it("keeps /.jitgate/ for the gateway on every host", () => {
    expect(route("web-1.gw.example", "/.jitgate/login?next=/", "gw.example")).toEqual({ kind: "gateway", path: "/.jitgate/login", query: "next=/" });
  });

  it("refuses bad hosts, bad names, absolute-form targets and traversal", () => {
    expect(code(() => hostName("a b"))).toBe("INVALID_HOST");
    expect(code(() => hostName(undefined))).toBe("INVALID_HOST");
    expect(hostName("[::1]:8444")).toBe("[::1]");
    expect(code(() => route("web_1!.gw.example", "/", "gw.example"))).toBe("INVALID_HOST");
    expect(code(() => route("gw", "/t/Web/", null))).toBe("INVALID_TARGET");
    expect(code(() => route("gw", "http://elsewhere/", null))).toBe("INVALID_REQUEST_TARGET");
    expect(code(() => route("gw", "*", null))).toBe("INVALID_REQUEST_TARGET");
    for (const p of ["/t/a/../b/", "/t/a/%2e%2e/b/", "/t/a/..%2Fb/", "/t/a/.%2e/", "/t/a/x/..\\..\\y", "/./x"]) {
      expect(code(() => checkPath(p)), p).toBe("PATH_TRAVERSAL");
    }
    expect(code(() => checkPath("/a%zz"))).toBe("MALFORMED_PATH");
    expect(code(() => checkPath("/a%00b"))).toBe("MALFORMED_PATH");
    expect(code(() => checkPath("/a/..b/c./.d"))).toBe(null);
  });
});
