import { describe, expect, it } from "vitest";
import { dropCookies, injectionFor, parseAccountOptions, upstreamHeaders } from "./injection.js";

const fc = { host: "10.0.0.5:8080", clientAddress: "127.0.0.1", publicHost: "gw:8444", prefix: "/t/app", gatewayCookie: "__Host-jitgate" };
const raw = (...pairs: [string, string][]) => pairs.flat();

describe("account options", () => {
  it("default to basic auth over plain HTTP", () => {
    expect(parseAccountOptions("app", "svc", {})).toMatchObject({ inject: "basic", scheme: "http", insecure: false });
    expect(parseAccountOptions("app", "svc", { scheme: "https", insecure: "true" })).toMatchObject({ scheme: "https", insecure: true });
  });

  it("are refused with what to fix", () => {
    expect(() => parseAccountOptions("app", "svc", { inject: "header" })).toThrow(/inject=header needs header=NAME/);
    expect(() => parseAccountOptions("app", "svc", { inject: "cookie" })).toThrow(/inject=cookie needs cookie=NAME/);
    expect(() => parseAccountOptions("app", "svc", { inject: "header", header: "Host" })).toThrow(/sets itself/);
    expect(() => parseAccountOptions("app", "svc", { inject: "magic" })).toThrow(/options of account svc on app are not valid/);
    expect(() => parseAccountOptions("app", "svc", { ca: "not a pem" })).toThrow(/PEM/);
  });
});

describe("upstream headers", () => {
  it("inject basic auth and drop the client's, the gateway's cookie and headers, and hop-by-hop headers", () => {
    const inj = injectionFor(parseAccountOptions("app", "svc", {}), "svc", "s3cret");
    const h = upstreamHeaders(raw(["Host", "gw"], ["Authorization", "Basic bWFsbG9yeTpn"], ["Cookie", "a=1; __Host-jitgate=jgt_x; b=2"], ["X-Jitgate-Token", "jgt_y"],
      ["Connection", "keep-alive, X-Drop"], ["X-Drop", "1"], ["X-Forwarded-For", "6.6.6.6"], ["Accept", "text/html"], ["Accept", "application/json"], ["TE", "trailers"]), inj, fc);
    expect(h).toEqual({
      accept: ["text/html", "application/json"],
      authorization: `Basic ${Buffer.from("svc:s3cret").toString("base64")}`,
      cookie: "a=1; b=2",
      host: "10.0.0.5:8080",
      "x-forwarded-for": "127.0.0.1",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "gw:8444",
      "x-forwarded-prefix": "/t/app",
    });
  });

  it("inject a bearer token, a custom header, or a cookie in place of the client's", () => {
    const bearer = injectionFor(parseAccountOptions("app", "svc", { inject: "bearer" }), "svc", "tok");
    expect(upstreamHeaders(raw(["authorization", "Bearer mine"]), bearer, fc).authorization).toBe("Bearer tok");
    const header = injectionFor(parseAccountOptions("app", "svc", { inject: "header", header: "X-Api-Key" }), "svc", "key");
    const hh = upstreamHeaders(raw(["X-API-KEY", "mine"], ["Authorization", "Basic abc"]), header, fc);
    expect(hh["x-api-key"]).toBe("key");
    expect(hh.authorization).toBe("Basic abc");
    const cookie = injectionFor(parseAccountOptions("app", "svc", { inject: "cookie", cookie: "session" }), "svc", "sess-1");
    expect(upstreamHeaders(raw(["Cookie", "session=mine; theme=dark"], ["Cookie", "__Host-jitgate=t"]), cookie, fc).cookie).toBe("theme=dark; session=sess-1");
  });

  it("leave websocket handshake headers to the websocket client", () => {
    const inj = injectionFor(parseAccountOptions("app", "svc", {}), "svc", "s");
    const h = upstreamHeaders(raw(["Sec-WebSocket-Key", "k"], ["Sec-WebSocket-Version", "13"], ["Upgrade", "websocket"], ["Origin", "https://gw"]), inj, fc, true);
    expect(Object.keys(h).filter((k) => k.startsWith("sec-") || k === "upgrade")).toEqual([]);
    expect(h.origin).toBe("https://gw");
  });

  it("dropCookies keeps the rest in order", () => {
    expect(dropCookies("a=1;b=2; c=3", ["b"])).toBe("a=1; c=3");
    expect(dropCookies("b=2", ["b"])).toBe(null);
  });
});
