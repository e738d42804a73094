import { describe, expect, it } from "vitest";
import { BodyCapture, capturedBody, redactBody } from "./capture.js";

const FIELDS = ["password", "token"];

describe("body capture", () => {
  it("keeps up to the limit and says it was cut", () => {
    const c = new BodyCapture(5);
    c.add(Buffer.from("abc"));
    c.add(Buffer.from("defgh"));
    expect(capturedBody(c, "text/plain", FIELDS)).toBe("abcde…[cut]");
  });

  it("keeps nothing of binary bodies or when capture is off", () => {
    const c = new BodyCapture(100);
    c.add(Buffer.from([1, 2, 3]));
    expect(capturedBody(c, "image/png", FIELDS)).toBeUndefined();
    expect(capturedBody(null, "text/plain", FIELDS)).toBeUndefined();
  });

  it("redacts form fields, JSON keys (even cut JSON) and name=value text", () => {
    expect(redactBody("user=alice&password=hunter2&Token=abc&x=1", "application/x-www-form-urlencoded", FIELDS)).toBe("user=alice&password=[redacted]&Token=[redacted]&x=1");
    expect(redactBody('{"user":"a","password":"p\\"w","nested":{"token":12345}}', "application/json", FIELDS)).toBe('{"user":"a","password":"[redacted]","nested":{"token":"[redacted]"}}');
    expect(redactBody('{"password":"hunt', "application/json", FIELDS)).toBe('{"password":"[redacted]"');
    expect(redactBody("<x>token=abc</x>", "text/xml", FIELDS)).toBe("<x>token=[redacted]</x>");
  });
});
