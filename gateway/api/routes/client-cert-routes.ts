// Client certificates for PostgreSQL clients: the person makes a key pair on their own
// machine and sends the public half; the certificate names them and ends within a day.
import { z } from "zod";
import { certifyClientKey, VaultError } from "../../../vault/index.js";
import { parseDuration } from "../../../policies/index.js";
import { HttpError } from "../http-errors.js";
import { route } from "../router.js";

const MAX_MS = 24 * 3600_000;

export const clientCertRoutes = [
  route({
    method: "POST",
    path: "/api/v1/me/client-certificate",
    tag: "ca",
    summary: "A client certificate naming the caller, for a public key made on their machine (RSA ≥ 2048, PEM); at most 24h, never past the account's end",
    access: "authenticated",
    body: z.strictObject({ publicKey: z.string().max(16 * 1024), validFor: z.string().max(16).optional() }),
    async handler({ cp, svc, actor, body }) {
      const now = Date.now();
      const wanted = body.validFor ? parseDuration(body.validFor) : 12 * 3600_000;
      if (wanted > MAX_MS) throw new HttpError(400, "VALIDITY_TOO_LONG", "a client certificate lasts at most 24h: ask again tomorrow");
      const user = await cp.users.get(actor.name);
      const end = Math.min(now + wanted, user.expiresAt?.getTime() ?? Infinity);
      try {
        const c = certifyClientKey(svc.authorities.tls, actor.name, body.publicKey, { validUntil: new Date(end), now });
        await cp.deps.sql.transaction((tx) =>
          cp.audit.append(tx, {
            actor: actor.name, target: null, type: "certificate.issued",
            data: { userName: actor.name, kind: "x509-client", grantId: null, keyId: `CN=${actor.name}`, serial: c.serial, notAfter: c.notAfter.toISOString() },
          }),
        );
        return { status: 201, body: { certificate: c.certPem, serial: c.serial, notAfter: c.notAfter.toISOString() } };
      } catch (err) {
        if (err instanceof VaultError && err.kind === "invalid") throw new HttpError(400, err.code, err.message);
        throw err;
      }
    },
  }),
];
