// The control plane's tables. Migrations are applied in order, once each, by the
// gateway's store; never edit a released one, add the next.
export interface Migration {
  id: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    id: "policies-001-control-plane",
    sql: `
CREATE TABLE users (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  roles text[] NOT NULL,
  groups text[] NOT NULL DEFAULT '{}',
  password_hash text,
  must_change_password boolean NOT NULL DEFAULT false,
  expires_at timestamptz,
  disabled_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE api_tokens (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id),
  token_hash text NOT NULL UNIQUE,
  label text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  last_used_at timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE login_failures (
  name text PRIMARY KEY,
  failures integer NOT NULL,
  last_failure_at timestamptz NOT NULL,
  blocked_until timestamptz
);

CREATE TABLE targets (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN ('ssh', 'postgres', 'http')),
  host text NOT NULL,
  port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  labels jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE accounts (
  id uuid PRIMARY KEY,
  target_id uuid NOT NULL REFERENCES targets(id),
  login text NOT NULL,
  auth text NOT NULL CHECK (auth IN ('password', 'key', 'certificate', 'ephemeral')),
  options jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (target_id, login)
);

CREATE TABLE policies (
  name text PRIMARY KEY,
  version integer NOT NULL,
  spec jsonb NOT NULL,
  source text NOT NULL,
  deleted_at timestamptz,
  updated_at timestamptz NOT NULL
);

CREATE TABLE policy_versions (
  name text NOT NULL,
  version integer NOT NULL,
  spec jsonb,
  source text NOT NULL,
  applied_by text NOT NULL,
  applied_at timestamptz NOT NULL,
  PRIMARY KEY (name, version)
);

CREATE TABLE requests (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id),
  target_id uuid NOT NULL REFERENCES targets(id),
  login text NOT NULL,
  duration_ms bigint NOT NULL CHECK (duration_ms > 0),
  reason text NOT NULL,
  starts_at timestamptz,
  extends_grant_id uuid,
  policy_name text NOT NULL,
  policy_version integer NOT NULL,
  approvals_required integer NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'expired')),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  decided_at timestamptz,
  decided_by text,
  decision_reason text,
  grant_id uuid
);
CREATE INDEX requests_pending ON requests (expires_at) WHERE state = 'pending';
CREATE INDEX requests_user ON requests (user_id, created_at);

CREATE TABLE approvals (
  request_id uuid NOT NULL REFERENCES requests(id),
  approver_id uuid NOT NULL REFERENCES users(id),
  decision text NOT NULL CHECK (decision IN ('approve', 'deny')),
  reason text,
  at timestamptz NOT NULL,
  PRIMARY KEY (request_id, approver_id)
);

CREATE TABLE grants (
  id uuid PRIMARY KEY,
  request_id uuid NOT NULL REFERENCES requests(id),
  user_id uuid NOT NULL REFERENCES users(id),
  target_id uuid NOT NULL REFERENCES targets(id),
  login text NOT NULL,
  not_before timestamptz NOT NULL,
  not_after timestamptz NOT NULL,
  session_options jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  ended_at timestamptz,
  end_reason text CHECK (end_reason IN ('expired', 'revoked')),
  ended_by text,
  end_note text,
  CHECK (not_after > not_before)
);
CREATE INDEX grants_live ON grants (user_id, target_id, login) WHERE ended_at IS NULL;
CREATE INDEX grants_open_by_end ON grants (not_after) WHERE ended_at IS NULL;
ALTER TABLE requests ADD CONSTRAINT requests_extends_fk FOREIGN KEY (extends_grant_id) REFERENCES grants(id);
ALTER TABLE requests ADD CONSTRAINT requests_grant_fk FOREIGN KEY (grant_id) REFERENCES grants(id);

CREATE TABLE grant_extensions (
  grant_id uuid NOT NULL REFERENCES grants(id),
  request_id uuid NOT NULL REFERENCES requests(id),
  previous_not_after timestamptz NOT NULL,
  new_not_after timestamptz NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (grant_id, request_id)
);

CREATE TABLE audit_events (
  seq bigint PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  at timestamptz NOT NULL,
  type text NOT NULL,
  version integer NOT NULL,
  actor text NOT NULL,
  target text,
  data jsonb NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_type ON audit_events (type, at);
CREATE INDEX audit_events_actor ON audit_events (actor, at);
`,
  },
  {
    // The audit log's hash chain detects tampering; this makes the ordinary way to tamper
    // fail loudly instead. Statement-level, so an UPDATE or DELETE matching no row is
    // refused too, and TRUNCATE (which fires no row triggers) is covered.
    id: "policies-002-audit-append-only",
    sql: `
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'modifying_sql_data_not_permitted',
          HINT = 'audit events are never changed or removed; record a new event instead';
END;
$$;

CREATE TRIGGER audit_events_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
`,
  },
  {
    // The connect-time check runs on every new session. As a plain statement its four-way
    // join is planned again on every call, which costs more than running it (most of all on
    // the embedded engine); PL/pgSQL keeps the plan for the life of the connection.
    id: "policies-003-live-grant-function",
    sql: `
CREATE FUNCTION jitgate_live_grant(p_user text, p_target text, p_login text, p_now timestamptz)
RETURNS TABLE (id uuid, user_id uuid, user_name text, target_id uuid, target_name text, target_kind text, host text, port integer,
               login text, account_id uuid, auth text, not_after timestamptz, session_options jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY
  SELECT g.id, g.user_id, u.name, t.id, t.name, t.kind, t.host, t.port, g.login, a.id, a.auth, g.not_after, g.session_options
  FROM users u
  JOIN grants g ON g.user_id = u.id AND g.ended_at IS NULL
  JOIN targets t ON t.id = g.target_id
  JOIN accounts a ON a.target_id = t.id AND a.login = g.login
  WHERE u.name = p_user AND t.name = p_target AND g.login = p_login
    AND g.not_before <= p_now AND g.not_after > p_now
    AND u.disabled_at IS NULL AND (u.expires_at IS NULL OR u.expires_at > p_now)
  ORDER BY g.not_after DESC
  LIMIT 1;
END;
$$;
`,
  },
];
