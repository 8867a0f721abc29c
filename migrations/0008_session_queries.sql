-- Read model behind the upstream-compatible sessions API (GET /sessions): one row per query of a
-- session, keyed by query name as upstream, with upstream's phase rules applied in sequence order by
-- SessionQueriesProjector. Times are append times (upstream uses its receive clock).
CREATE TABLE session_queries (
  tenant_id        text        NOT NULL,
  session_id       text        NOT NULL,
  query_name       text        NOT NULL,
  query_id         text,
  namespace        text,
  conversation_id  text,
  agent            text,
  team             text,
  tool             text,
  target_type      text        NOT NULL,
  phase            text        NOT NULL CHECK (phase IN ('pending', 'running', 'done', 'error', 'canceled', 'unknown')),
  error            jsonb,
  created_at       timestamptz NOT NULL,
  completed_at     timestamptz,
  last_activity_at timestamptz NOT NULL,
  first_sequence   bigint      NOT NULL,  -- keeps upstream's insertion ("map") order
  PRIMARY KEY (tenant_id, session_id, query_name)
);
CREATE INDEX session_queries_query_id ON session_queries (tenant_id, query_id);

-- Per-session summary of those queries, for listing, filtering and sorting sessions.
ALTER TABLE sessions
  ADD COLUMN query_count        integer     NOT NULL DEFAULT 0,
  ADD COLUMN status             text        NOT NULL DEFAULT 'idle' CHECK (status IN ('active', 'idle', 'error')),
  ADD COLUMN error_count        integer     NOT NULL DEFAULT 0,
  ADD COLUMN conversation_count integer     NOT NULL DEFAULT 0,
  ADD COLUMN queries_created_at timestamptz,
  ADD COLUMN queries_active_at  timestamptz;
CREATE INDEX sessions_with_queries ON sessions (tenant_id, queries_active_at DESC) WHERE query_count > 0;
