// One session's life, the same for every protocol: registered so a grant's end can cut it,
// recorded, and audited at its start and end. Engines call beginSession once the client
// is authenticated against a live grant, and end() exactly when the connection is gone.
import { randomUUID } from "node:crypto";
import type { LiveGrant } from "../policies/index.js";
import type { Protocol, SessionRecording } from "../recorder/index.js";
import type { EngineContext, SessionHandle } from "./engine.js";

export interface OpenSession {
  readonly id: string;
  readonly grant: LiveGrant;
  readonly recording: SessionRecording;
  /** Unregisters, seals the recording and audits the end. Safe to call more than once. */
  end(reason: string): Promise<void>;
}

export interface SessionSpec {
  protocol: Protocol;
  grant: LiveGrant;
  clientAddress: string;
  /** Tells the client why (in its protocol's words) and drops the connection. */
  close(reason: string): void;
}

export async function beginSession(ctx: EngineContext, spec: SessionSpec): Promise<OpenSession> {
  const { grant } = spec;
  const id = randomUUID();
  const startedAt = new Date();
  const recording = ctx.recorder.open({
    sessionId: id,
    protocol: spec.protocol,
    grantId: grant.grantId,
    userId: grant.userId,
    userName: grant.userName,
    targetId: grant.targetId,
    targetName: grant.targetName,
    login: grant.login,
    clientAddress: spec.clientAddress,
    node: ctx.node,
    startedAt: startedAt.getTime(),
    redactParameters: grant.sessionOptions.redactParameters,
  });
  let ended: Promise<void> | null = null;
  const handle: SessionHandle = {
    id,
    grantId: grant.grantId,
    userId: grant.userId,
    userName: grant.userName,
    targetName: grant.targetName,
    login: grant.login,
    protocol: spec.protocol,
    clientAddress: spec.clientAddress,
    startedAt,
    close: (reason) => spec.close(reason),
  };
  const unregister = ctx.sessions.add(handle);
  const audit = (entry: Parameters<typeof ctx.cp.audit.append>[1]) =>
    ctx.cp.deps.sql.transaction((tx) => ctx.cp.audit.append(tx, entry)).then(
      () => undefined,
      (err: unknown) => ctx.logger.error("session audit failed", { sessionId: id, err: String(err) }),
    );
  await audit({ actor: grant.userName, target: grant.targetName, type: "session.started", data: { sessionId: id, grantId: grant.grantId, protocol: spec.protocol, clientAddress: spec.clientAddress } });
  // The grant may have ended between the check and the registration: the registry missed it.
  const left = grant.notAfter.getTime() - Date.now();
  if (left <= 0 || !(await ctx.cp.grants.findLive(grant.userName, grant.targetName, grant.login))) {
    queueMicrotask(() => spec.close(`jitgate: grant ${grant.grantId} ended — session closed`));
  }
  return {
    id,
    grant,
    recording,
    end(reason) {
      ended ??= (async () => {
        unregister();
        await recording.end(reason);
        await audit({ actor: grant.userName, target: grant.targetName, type: "session.ended", data: { sessionId: id, grantId: grant.grantId, reason } });
      })();
      return ended;
    },
  };
}

/** Audits a connection turned away before any session began. Never throws. */
export async function auditRefusal(
  ctx: EngineContext,
  r: { protocol: Protocol; userName: string | null; targetName: string | null; login: string | null; reason: string; clientAddress: string },
): Promise<void> {
  ctx.logger.warn("session refused", r);
  await ctx.cp.deps.sql
    .transaction((tx) => ctx.cp.audit.append(tx, { actor: r.userName ?? "anonymous", target: r.targetName, type: "session.refused", data: r }))
    .catch((err: unknown) => ctx.logger.error("refusal audit failed", { err: String(err) }));
}
