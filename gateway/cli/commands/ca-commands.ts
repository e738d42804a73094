import type { Command } from "../command.js";
import { UsageError } from "../errors.js";

export const caCommands: Command[] = [
  {
    name: "ca export",
    usage: "jitgate ca export --tls | --ssh-user | --ssh-target | --ssh-host",
    summary: "print what to trust: the TLS root (PEM), an SSH CA's public key with its sshd_config lines, or the gateway's SSH host key",
    args: [0, 0],
    options: { tls: { type: "boolean" }, "ssh-user": { type: "boolean" }, "ssh-target": { type: "boolean" }, "ssh-host": { type: "boolean" } },
    async run(ctx) {
      const which = (["tls", "ssh-user", "ssh-target", "ssh-host"] as const).filter((k) => ctx.values[k] === true);
      if (which.length !== 1) throw new UsageError("give exactly one of --tls, --ssh-user, --ssh-target, --ssh-host");
      const kind = which[0] as "tls" | "ssh-user" | "ssh-target" | "ssh-host";
      if (kind === "ssh-host") {
        const r = await ctx.api<{ publicKey: string }>("GET", "/api/v1/ca/ssh-host");
        ctx.show(r, () => r.publicKey);
        return;
      }
      if (kind === "tls") {
        const r = await ctx.api<{ certificate: string }>("GET", "/api/v1/ca/tls");
        ctx.show(r, () => r.certificate.trimEnd());
        return;
      }
      const r = await ctx.api<{ publicKey: string; fingerprint: string; sshdConfig: string[] }>("GET", `/api/v1/ca/${kind}`);
      ctx.show(r, () => [r.publicKey, "", ...r.sshdConfig].join("\n"));
    },
  },
];
