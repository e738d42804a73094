// Recorded sessions: people see their own, auditors and admins everyone's. Every look at a
// session (its events, terminal, verification, live view) is itself an audit event.
import { z } from "zod";
import type { Actor, ControlPlane } from "../../../policies/index.js";
import { RecorderError, type RecordingReader, type SessionSummary } from "../../../recorder/index.js";
import type { GatewayServices } from "../../services.js";
import { HttpError } from "../http-errors.js";
import { parseSince } from "../query-times.js";
import { route } from "../router.js";
import { eventDto, sessionDto, type TerminalInfo, type TerminalPage } from "../sessions-dto.js";

export const seesEveryone = (actor: Actor) => actor.roles.includes("auditor") || actor.roles.includes("admin");

function intParam(query: URLSearchParams, name: string, fallback: number, min: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new HttpError(400, "INVALID_QUERY", `${name} must be a whole number of at least ${min}, not ${JSON.stringify(raw)}`);
  return n;
}

/** Reader errors as HTTP: a bad argument is the caller's, an outage is a 503. */
async function read<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RecorderError && err.code === "INVALID_QUERY") throw new HttpError(400, "INVALID_QUERY", err.message);
    if (err instanceof RecorderError && err.code === "NOT_FOUND") throw new HttpError(404, "NOT_FOUND", err.message);
    if (err instanceof RecorderError && err.code === "UNAVAILABLE") throw new HttpError(503, "RECORDINGS_UNAVAILABLE", "the recording store is not reachable right now; try again shortly");
    throw err;
  }
}

/** The session if the actor may see it; the same 404 otherwise, so ids cannot be probed. */
export async function visibleSession(reader: RecordingReader, actor: Actor, id: string): Promise<SessionSummary> {
  const s = /^[0-9a-f-]{36}$/i.test(id) ? await read(() => reader.get(id)) : null;
  if (!s || (!seesEveryone(actor) && s.userName !== actor.name)) throw new HttpError(404, "SESSION_NOT_FOUND", `no session ${id} that you may see; list them with: jitgate sessions`);
  return s;
}

export async function auditView(cp: ControlPlane, actor: Actor, s: SessionSummary, mode: "live" | "replay" | "events" | "export" | "verify"): Promise<void> {
  await cp.deps.sql.transaction((tx) => cp.audit.append(tx, { actor: actor.name, target: s.targetName, type: "session.viewed", data: { sessionId: s.sessionId, mode } }));
}

const reader = (svc: GatewayServices) => svc.recordings;

export const recordingRoutes = [
  route({
    method: "GET",
    path: "/api/v1/sessions",
    tag: "sessions",
    summary: "Sessions, newest first: your own, or everyone's for auditors and admins",
    access: "authenticated",
    query: { live: "true: only live ones", user: "user name (auditors, admins)", target: "target name", protocol: "ssh, postgres or http", since: "1h or an ISO time", limit: "1-10000" },
    async handler({ svc, actor, query }) {
      const user = query.get("user");
      if (user && user !== actor.name && !seesEveryone(actor)) throw new HttpError(403, "ROLE_REQUIRED", "only auditors and admins see other people's sessions");
      const protocol = query.get("protocol");
      if (protocol && !["ssh", "postgres", "http"].includes(protocol)) throw new HttpError(400, "INVALID_QUERY", `protocol is ssh, postgres or http, not ${JSON.stringify(protocol)}`);
      const since = parseSince(query.get("since"), Date.now());
      const rows = await read(() => reader(svc).list({
        userName: seesEveryone(actor) ? user ?? undefined : actor.name,
        targetName: query.get("target") ?? undefined,
        protocol: (protocol ?? undefined) as "ssh" | "postgres" | "http" | undefined,
        state: query.get("live") === "true" ? "live" : undefined,
        since: since?.getTime(),
        limit: intParam(query, "limit", 100, 1),
      }));
      return { body: rows.map(sessionDto) };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/sessions/search",
    tag: "sessions",
    summary: "Find the moments where a text was typed, shown on a terminal, queried or requested",
    access: "authenticated",
    query: { text: "what to look for (case-insensitive)", since: "1h or an ISO time (default 30d)", user: "user name (auditors, admins)", target: "target name", limit: "1-10000" },
    async handler({ svc, actor, query }) {
      const text = query.get("text") ?? "";
      if (text.trim().length < 2) throw new HttpError(400, "INVALID_QUERY", "give at least two characters to look for: jitgate sessions --search TEXT");
      const user = query.get("user");
      if (user && user !== actor.name && !seesEveryone(actor)) throw new HttpError(403, "ROLE_REQUIRED", "only auditors and admins search other people's sessions");
      const hits = await read(() => reader(svc).search(text, {
        since: parseSince(query.get("since"), Date.now())?.getTime(),
        userName: seesEveryone(actor) ? user ?? undefined : actor.name,
        targetName: query.get("target") ?? undefined,
        limit: intParam(query, "limit", 100, 1),
      }));
      return { body: hits.map(({ ts, ...h }) => ({ ...h, at: new Date(ts).toISOString() })) };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/sessions/:id",
    tag: "sessions",
    summary: "One session",
    access: "authenticated",
    async handler({ svc, actor, params }) {
      return { body: sessionDto(await visibleSession(reader(svc), actor, params.id ?? "")) };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/sessions/:id/events",
    tag: "sessions",
    summary: "A session's events in order, a page at a time (terminal bytes as base64)",
    access: "authenticated",
    query: { afterSeq: "page from after this seq (default -1: from the start)", limit: "1-100000 (default 1000)", kinds: "comma-separated kinds", channel: "recording channel", purpose: "replay or export, for the audit log" },
    async handler({ cp, svc, actor, params, query }) {
      const s = await visibleSession(reader(svc), actor, params.id ?? "");
      const after = intParam(query, "afterSeq", -1, -1);
      const kinds = query.get("kinds")?.split(",").filter(Boolean);
      const channel = query.get("channel");
      const page = await read(() => reader(svc).events(s.sessionId, {
        fromSeq: after + 1,
        limit: intParam(query, "limit", 1000, 1),
        ...(kinds ? { kinds: kinds as never } : {}),
        ...(channel !== null ? { channel: intParam(query, "channel", 0, 0) } : {}),
      }));
      if (after === -1) await auditView(cp, actor, s, query.get("purpose") === "export" ? "export" : query.get("purpose") === "replay" ? "replay" : "events");
      return { body: { events: page.events.map(eventDto), next: page.nextSeq === null ? null : page.nextSeq - 1 } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/sessions/:id/terminals",
    tag: "sessions",
    summary: "The session's terminal (pty) channels, for replay",
    access: "authenticated",
    async handler({ svc, actor, params }) {
      const s = await visibleSession(reader(svc), actor, params.id ?? "");
      const page = await read(() => reader(svc).events(s.sessionId, { kinds: ["channel_open"], limit: 100_000 }));
      const terminals: TerminalInfo[] = [];
      for (const e of page.events) {
        if (e.kind !== "channel_open" || !e.open.pty) continue;
        terminals.push({ channel: e.channel, type: e.open.type, command: e.open.command, term: e.open.pty.term, cols: e.open.pty.cols, rows: e.open.pty.rows });
      }
      return { body: terminals };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/sessions/:id/terminal",
    tag: "sessions",
    summary: "One terminal channel's output, input and resizes, a page at a time, for replay and asciicast export",
    access: "authenticated",
    query: { channel: "recording channel", afterSeq: "page from after this seq", limit: "1-100000", purpose: "replay or export" },
    async handler({ cp, svc, actor, params, query }) {
      const s = await visibleSession(reader(svc), actor, params.id ?? "");
      const channel = intParam(query, "channel", 0, 0);
      const after = intParam(query, "afterSeq", -1, -1);
      const opened = await read(() => reader(svc).events(s.sessionId, { kinds: ["channel_open"], channel, limit: 1 }));
      const open = opened.events[0];
      if (!open || open.kind !== "channel_open" || !open.open.pty) throw new HttpError(404, "NO_TERMINAL", `channel ${channel} of session ${s.sessionId} is not a terminal; list them at /api/v1/sessions/${s.sessionId}/terminals`);
      const page = await read(() => reader(svc).events(s.sessionId, { kinds: ["output", "input", "resize"], channel, fromSeq: after + 1, limit: intParam(query, "limit", 5000, 1) }));
      if (after === -1) await auditView(cp, actor, s, query.get("purpose") === "export" ? "export" : "replay");
      const body: TerminalPage = {
        channel,
        cols: open.open.pty.cols,
        rows: open.open.pty.rows,
        events: page.events.flatMap((e): TerminalPage["events"] =>
          e.kind === "output" || e.kind === "input" ? [{ ts: e.ts, kind: e.kind, data: Buffer.from(e.data).toString("base64") }]
          : e.kind === "resize" ? [{ ts: e.ts, kind: e.kind, cols: e.cols, rows: e.rows }] : []),
        next: page.nextSeq === null ? null : page.nextSeq - 1,
      };
      return { body };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/sessions/:id/verify",
    tag: "sessions",
    summary: "Recompute the session's hash chain and check its signed final digest",
    access: "authenticated",
    async handler({ cp, svc, actor, params }) {
      const s = await visibleSession(reader(svc), actor, params.id ?? "");
      const report = await read(() => reader(svc).verify(s.sessionId));
      await auditView(cp, actor, s, "verify");
      return { body: report };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/sessions/:id/kill",
    tag: "sessions",
    summary: "End a live session on this node now",
    access: ["admin", "auditor"],
    body: z.strictObject({ reason: z.string().max(500).nullable().optional() }),
    async handler({ cp, svc, actor, params, body }) {
      const id = params.id ?? "";
      const live = svc.sessions.get(id);
      if (!live) {
        const s = /^[0-9a-f-]{36}$/i.test(id) ? await read(() => svc.recordings.get(id)) : null;
        if (!s) throw new HttpError(404, "SESSION_NOT_FOUND", `no session ${id}; list live ones with: jitgate sessions --live`);
        if (!s.live) throw new HttpError(409, "SESSION_ENDED", `session ${id} already ended (${s.endReason ?? "ended"})`);
        throw new HttpError(409, "SESSION_ELSEWHERE", `session ${id} is held by gateway node ${s.node}; kill it through that node's API`);
      }
      const reason = body.reason ?? null;
      await cp.deps.sql.transaction((tx) => cp.audit.append(tx, { actor: actor.name, target: live.targetName, type: "session.killed", data: { sessionId: id, userName: live.userName, reason } }));
      live.close(`jitgate: session killed by ${actor.name}${reason ? `: ${reason}` : ""}`);
      return {
        body: { id, protocol: live.protocol, userName: live.userName, targetName: live.targetName, login: live.login, grantId: live.grantId, clientAddress: live.clientAddress, startedAt: live.startedAt.toISOString(), live: false },
      };
    },
  }),
];
