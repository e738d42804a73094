// The public halves of the gateway's authorities: what clients and targets must trust.
import { sshdConfigLines } from "../../../vault/index.js";
import { route } from "../router.js";

export const caRoutes = [
  route({
    method: "GET",
    path: "/api/v1/ca/tls",
    tag: "ca",
    summary: "The X.509 root behind the gateway's TLS listeners (API, web, PostgreSQL)",
    access: "public",
    async handler({ svc }) {
      return { body: { certificate: svc.authorities.tls.certPem } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/ca/ssh-user",
    tag: "ca",
    summary: "The SSH CA that signs people's certificates for connecting to the gateway",
    access: "public",
    async handler({ svc }) {
      const line = svc.authorities.sshUser.publicKeyLine("jitgate-user-ca");
      return { body: { publicKey: line, fingerprint: svc.authorities.sshUser.fingerprint, sshdConfig: sshdConfigLines(line, "/etc/ssh/jitgate_user_ca.pub") } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/ca/ssh-target",
    tag: "ca",
    summary: "The SSH CA that targets trust for the gateway's upstream logins, with the sshd_config lines",
    access: "public",
    async handler({ svc }) {
      const line = svc.authorities.sshTarget.publicKeyLine("jitgate-target-ca");
      return { body: { publicKey: line, fingerprint: svc.authorities.sshTarget.fingerprint, sshdConfig: sshdConfigLines(line, "/etc/ssh/jitgate_target_ca.pub") } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/ca/ssh-host",
    tag: "ca",
    summary: "The gateway's SSH host key, for clients to pin (known_hosts)",
    access: "public",
    async handler({ svc }) {
      return { body: { publicKey: svc.authorities.sshHostKey.publicKeyLine } };
    },
  }),
];
