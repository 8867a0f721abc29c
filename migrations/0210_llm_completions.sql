-- Compaction (docs/architecture.md#compaction): a finished query's run of `llm.chunk` events folded
-- into one row that gives every chunk event back exactly (libs/event-store/src/chunk-run-codec.ts),
-- so the completion views replay token by token once the raw chunks, given a shorter retention by the
-- compactor, are reaped. A run is the chunks uploaded under one query name that name one `ark.query`
-- (`run`, '' when they name none), between two log positions.
CREATE TABLE llm_completions (
  tenant_id       text        NOT NULL,
  query_name      text        NOT NULL,
  run             text        NOT NULL,
  first_position  bigint      NOT NULL,
  last_position   bigint      NOT NULL,
  first_tx        xid8        NOT NULL,
  last_tx         xid8        NOT NULL,
  -- What every chunk of the run shares.
  session_id      text        NOT NULL,
  namespace       text,
  user_id         text,
  trace_id        text,
  span_id         text,
  parent_span_id  text,
  chunk_count     integer     NOT NULL,
  first_at        timestamptz NOT NULL,
  last_at         timestamptz NOT NULL,
  -- The content deltas joined: what an analyst reads without decoding `chunks`.
  text            text        NOT NULL,
  chunks          jsonb       NOT NULL,
  compacted_at    timestamptz NOT NULL DEFAULT now(),
  -- The latest expiry of its chunks: it is visible as long as they would have been.
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, query_name, run, first_position)
);
CREATE INDEX llm_completions_run ON llm_completions (tenant_id, run, first_position) WHERE run <> '';
CREATE INDEX llm_completions_expires_at ON llm_completions (expires_at);

ALTER TABLE llm_completions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llm_completions USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));

-- The compactor finds finished runs by the events that end them (few: one or two per query).
CREATE INDEX events_run_ends ON events (recorded_at)
  WHERE type IN ('llm.stream.completed', 'query.completed', 'query.failed', 'query.canceled');
