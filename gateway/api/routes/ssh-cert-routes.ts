// People's SSH certificates: the holder of a live grant sends the public half of their key
// and gets back a certificate from the user CA that ends when the grant ends.
import { z } from "zod";
import { VaultError } from "../../../vault/index.js";
import { HttpError } from "../http-errors.js";
import { route } from "../router.js";

const WHAT_TO_SEND = "send the one-line public key, the content of a .pub file such as ~/.ssh/id_ed25519.pub";
const FORWARDING = ["permit-agent-forwarding", "permit-port-forwarding"];

/**
 * Catches what the vault would call an unsupported key type but is no key at all: in a real
 * key line the base64 part starts with the same type name as the line (any words whose
 * second one happens to be valid base64 otherwise pass as a "type").
 */
function checkKeyLine(text: string): string {
  if (/PRIVATE KEY/.test(text)) {
    throw new HttpError(400, "SSH_MALFORMED", `this is a private key: it must never leave your machine. ${WHAT_TO_SEND}`);
  }
  const [type = "", b64 = ""] = text.trim().split(/\s+/);
  const blob = Buffer.from(b64, "base64");
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (length !== Buffer.byteLength(type) || blob.subarray(4, 4 + length).toString("latin1") !== type) {
    throw new HttpError(400, "SSH_MALFORMED", `this is not an OpenSSH public key line (like "ssh-ed25519 AAAAC3Nza... you@laptop"): ${WHAT_TO_SEND}`);
  }
  return text.trim();
}

export const sshCertRoutes = [
  route({
    method: "POST",
    path: "/api/v1/grants/:id/ssh-certificate",
    tag: "access",
    summary: "Certify the holder's SSH public key for connecting to the gateway, valid until the grant ends",
    access: "authenticated",
    body: z.strictObject({ publicKey: z.string().max(64 * 1024) }),
    async handler({ cp, svc, actor, params, body }) {
      const id = params.id ?? "";
      const grant = await cp.grants.get(actor, id);
      if (grant.user !== actor.name) {
        throw new HttpError(403, "NOT_GRANT_HOLDER", `grant ${id} belongs to ${grant.user}: only its holder can get a certificate for it`);
      }
      if (grant.targetKind !== "ssh") {
        throw new HttpError(409, "GRANT_NOT_SSH", `grant ${id} is for ${grant.target}, a ${grant.targetKind} target: SSH certificates are for grants on ssh targets`);
      }
      if (grant.state === "scheduled") {
        throw new HttpError(409, "GRANT_NOT_STARTED", `grant ${id} starts at ${grant.notBefore}: ask for a certificate then`, { notBefore: grant.notBefore });
      }
      if (grant.state === "ended") {
        throw new HttpError(410, "GRANT_ENDED", `grant ${id} has ended (${grant.endReason ?? "expired"}): request access again with: jitgate request ${grant.target} --login ${grant.login} --for 30m --reason "..."`, {
          endedAt: grant.endedAt,
          endReason: grant.endReason,
        });
      }
      const extensions = ["permit-pty", ...(grant.sessionOptions.forwarding ? FORWARDING : [])];
      let issued;
      try {
        issued = svc.authorities.sshUser.userCertificate({
          publicKeyLine: checkKeyLine(body.publicKey),
          user: actor.name,
          grantId: grant.id,
          principals: [actor.name],
          notAfter: Date.parse(grant.notAfter),
          extensions,
        });
      } catch (err) {
        if (err instanceof VaultError && err.kind === "invalid") {
          const hint = err.code === "SSH_MALFORMED" ? `: ${WHAT_TO_SEND}` : "";
          throw new HttpError(400, err.code, `${err.message}${hint}`);
        }
        throw err;
      }
      await cp.deps.sql.transaction((tx) =>
        cp.audit.append(tx, {
          actor: actor.name, target: grant.target, type: "certificate.issued",
          data: { userName: actor.name, kind: "ssh-user", grantId: grant.id, keyId: issued.keyId, serial: issued.serial.toString(), notAfter: new Date(issued.validBefore).toISOString() },
        }),
      );
      return {
        status: 201,
        body: {
          certificate: issued.certificateLine,
          keyId: issued.keyId,
          serial: issued.serial.toString(),
          validBefore: new Date(issued.validBefore).toISOString(),
          principals: [actor.name],
          extensions: [...extensions].sort(),
          keyFingerprint: issued.keyFingerprint,
        },
      };
    },
  }),
];
