import { describe, expect, it } from "vitest";
import { SshCertificateAuthority } from "../../vault/index.js";
import { checkCertificate, claimedPrincipals, parseDestination } from "./client-auth.js";

const USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKuSKjAdg+28uvSS8Fr2WfzesMUdIYbtfBJ16XUFIxYR test@host";

describe("parseDestination", () => {
  it("splits LOGIN@TARGET at the last @", () => {
    expect(parseDestination("root@web-1")).toEqual({ login: "root", target: "web-1" });
    expect(parseDestination("deploy_2@db.prod-3")).toEqual({ login: "deploy_2", target: "db.prod-3" });
  });

  it("refuses names without a target, with an example of the right form", () => {
    for (const bad of ["root", "@web-1", "root@", "root@Web 1", "a@b@c", `${"x".repeat(40)}@web-1`, "ro ot@web-1"]) {
      expect(() => parseDestination(bad), bad).toThrow(/must be LOGIN@TARGET, like root@web-1/);
    }
  });
});

describe("certificates", () => {
  const { ca } = SshCertificateAuthority.generate();
  const blob = (line: string) => Buffer.from(line.split(" ")[1] ?? "", "base64");

  it("reads the principals a certificate claims, and nothing from garbage", () => {
    const cert = ca.userCertificate({ publicKeyLine: USER_KEY, user: "alice", grantId: "g-1", principals: ["alice", "alice2"], notAfter: Date.now() + 60_000 });
    expect(claimedPrincipals(blob(cert.certificateLine))).toEqual(["alice", "alice2"]);
    expect(claimedPrincipals(Buffer.from("garbage"))).toEqual([]);
    expect(claimedPrincipals(blob(cert.certificateLine).subarray(0, 60))).toEqual([]);
  });

  it("accepts the gateway CA's certificate for its person and refuses another CA's", () => {
    const cert = ca.userCertificate({ publicKeyLine: USER_KEY, user: "alice", grantId: "g-1", principals: ["alice"], notAfter: Date.now() + 60_000 });
    expect(checkCertificate(blob(cert.certificateLine), ca.publicBlob, "127.0.0.1", Date.now()).principal).toBe("alice");
    const other = SshCertificateAuthority.generate().ca;
    expect(() => checkCertificate(blob(cert.certificateLine), other.publicBlob, "127.0.0.1", Date.now())).toThrow(/which this gateway does not trust/);
    expect(() => checkCertificate(blob(cert.certificateLine), ca.publicBlob, "127.0.0.1", Date.now() + 120_000)).toThrow(/expired at/);
  });
});
