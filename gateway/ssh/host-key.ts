// ssh2 reads OpenSSH private keys but not the PKCS#8 PEM the vault keeps, so the gateway's
// ed25519 host key is re-encoded in OpenSSH's own format (PROTOCOL.key) for it.
import { createPrivateKey, randomBytes } from "node:crypto";

function sshString(value: Buffer | string): Buffer {
  const body = typeof value === "string" ? Buffer.from(value) : value;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/** An unencrypted `-----BEGIN OPENSSH PRIVATE KEY-----` block for an ed25519 PKCS#8 PEM. */
export function ed25519PemToOpenSsh(pkcs8Pem: string, comment = "jitgate-host"): string {
  const jwk = createPrivateKey(pkcs8Pem).export({ format: "jwk" });
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || !jwk.d || !jwk.x) throw new Error("the gateway's SSH host key is not an ed25519 key");
  const seed = Buffer.from(jwk.d, "base64url");
  const pub = Buffer.from(jwk.x, "base64url");
  const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
  const check = randomBytes(4);
  let secret = Buffer.concat([check, check, sshString("ssh-ed25519"), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad: number[] = [];
  for (let i = 1; (secret.length + pad.length) % 8 !== 0; i++) pad.push(i);
  secret = Buffer.concat([secret, Buffer.from(pad)]);
  const nkeys = Buffer.alloc(4);
  nkeys.writeUInt32BE(1);
  const body = Buffer.concat([Buffer.from("openssh-key-v1\0"), sshString("none"), sshString("none"), sshString(""), nkeys, sshString(publicBlob), sshString(secret)]);
  const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
