import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { HtmlRewriter, rewriteHtml, rewriteLocation, rewriteSetCookie, type Rewriting } from "./rewrite.js";

const prefix: Rewriting = { prefix: "/t/app", upstreamOrigins: ["http://10.0.0.5:8080", "http://10.0.0.5"], publicOrigin: "https://gw:8444", gatewayCookie: "__Host-jitgate" };
const host: Rewriting = { ...prefix, prefix: "", publicOrigin: "https://app.gw.example" };

describe("rewriting under a path prefix", () => {
  it("moves absolute paths and the target's own URLs under the prefix, and leaves the rest", () => {
    expect(rewriteLocation("/login?next=/", prefix)).toBe("/t/app/login?next=/");
    expect(rewriteLocation("http://10.0.0.5:8080/x#y", prefix)).toBe("/t/app/x#y");
    expect(rewriteLocation("HTTP://10.0.0.5:8080", prefix)).toBe("/t/app/");
    expect(rewriteLocation("http://10.0.0.5:80800/x", prefix)).toBe("http://10.0.0.5:80800/x");
    expect(rewriteLocation("relative/x", prefix)).toBe("relative/x");
    expect(rewriteLocation("//cdn.example/x", prefix)).toBe("//cdn.example/x");
    expect(rewriteLocation("https://example.org/", prefix)).toBe("https://example.org/");
    expect(rewriteLocation("http://10.0.0.5:8080/x", host)).toBe("https://app.gw.example/x");
    expect(rewriteLocation("/x", host)).toBe("/x");
  });

  it("scopes cookies to the prefix, drops their Domain, and never lets a target set the gateway's cookie", () => {
    expect(rewriteSetCookie("sid=1; Path=/; HttpOnly", prefix)).toBe("sid=1; Path=/t/app/; HttpOnly");
    expect(rewriteSetCookie("sid=1; Domain=.internal; Secure", prefix)).toBe("sid=1; Secure; Path=/t/app/");
    expect(rewriteSetCookie("sid=1; path=/admin", host)).toBe("sid=1; Path=/admin");
    expect(rewriteSetCookie("__Host-jitgate=evil; Path=/", prefix)).toBe(null);
  });

  it("rewrites URL attributes in tags only", () => {
    const html = `<a href="/a">/a</a><img SRC='/i.png'><form action=/f><p>href="/text"</p><a href="x">`;
    expect(rewriteHtml(html, prefix)).toBe(`<a href="/t/app/a">/a</a><img SRC='/t/app/i.png'><form action=/t/app/f><p>href="/text"</p><a href="x">`);
  });

  it("streams: a tag cut between two chunks is rewritten whole", async () => {
    const chunks: Buffer[] = ['<html><a hr', 'ef="/one">x</a><img src="/t', 'wo.png"><p>ü</p>'].map((s) => Buffer.from(s));
    // Split a multi-byte character between chunks too.
    const last = chunks.pop() as Buffer;
    chunks.push(last.subarray(0, last.length - 6), last.subarray(last.length - 6));
    let out = "";
    for await (const c of Readable.from(chunks).pipe(new HtmlRewriter(prefix))) out += String(c);
    expect(out).toBe('<html><a href="/t/app/one">x</a><img src="/t/app/two.png"><p>ü</p>');
  });
});
