import type { Command } from "../command.js";
import { UsageError } from "../errors.js";

export const caCommands: Command[] = [
  {
    name: "ca export",
    usage: "jitgate ca export --tls | --ssh-user | --ssh-target",
    summary: "print what to trust: the TLS root (PEM), or an SSH CA's public key with its sshd_config lines",
    args: [0, 0],
    options: { tls: { type: "boolean" }, "ssh-user": { type: "boolean" }, "ssh-target": { type: "boolean" } },
    async run(ctx) {
      const which = (["tls", "ssh-user", "ssh-target"] as const).filter((k) => ctx.values[k] === true);
      if (which.length !== 1) throw new UsageError("give exactly one of --tls, --ssh-user, --ssh-target");
      const kind = which[0] as "tls" | "ssh-user" | "ssh-target";
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
