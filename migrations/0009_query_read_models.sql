-- Read models of a session's work (docs/read-models.md): queries, tool calls and LLM calls, maintained
-- inside the append transaction by QueriesProjector, ToolCallsProjector and LlmCallsProjector and
-- rebuilt from the log by `ark-broker projections rebuild`.
--
-- Every column is merged with a commutative, idempotent rule (least / greatest / precedence / set
-- union), so the rows do not depend on the order events arrive in: a span end before its start, a
-- child before its parent, an operation event before the span of the same call all converge.
-- "least" of descriptive values ignores NULLs (PostgreSQL's LEAST), so the first non-null value any
-- event carries is kept, and two different values resolve the same way whatever their order.
--
-- session_id / session_rank: the session a row belongs to. Spans whose session was not known yet go
-- to `trace-<traceId>` (rank 0); operation events without a session id go to the query UID (rank 1);
-- a real session id is rank 2. The highest (rank, id) wins, so a row attaches to the real session
-- once any of its events names it. Tool and LLM calls belong to a session through their query
-- (query_key): a child span that arrived before its parent (and so went to `trace-<traceId>`) is in
-- the right session as soon as the query row is.

CREATE TABLE queries (
  tenant_id        text        NOT NULL,
  query_key        text        NOT NULL,  -- the query UID, else `trace:<traceId>` for spans without one
  query_id         text,                  -- the query UID (Ark's query.uid / data.queryId)
  query_name       text,
  session_id       text        NOT NULL,
  session_rank     smallint    NOT NULL,
  namespace        text,
  user_id          text,
  target_type      text,                  -- agent | team | model | tool (as Ark reports it)
  target_name      text,
  agent            text,                  -- an agent that worked on the query (first by name)
  input            jsonb,
  response         jsonb,
  phase            text        NOT NULL DEFAULT 'running'
                   CHECK (phase IN ('pending', 'running', 'done', 'error', 'canceled', 'unknown')),
  error            jsonb,                 -- the latest error signal (kept even when a later done cleared the phase)
  error_at         timestamptz,           -- time of that error signal
  done_at          timestamptz[] NOT NULL DEFAULT '{}',  -- every QueryExecutionComplete / query span end
  canceled_at      timestamptz,           -- latest cancel signal
  started_at       timestamptz NOT NULL,  -- earliest start (span start, QueryExecutionStart, or any event)
  completed_at     timestamptz,           -- when the phase became final (from the signal that decided it)
  last_event_at    timestamptz NOT NULL,
  duration_ms      double precision,      -- the query span's / completion event's own duration
  tokens_input     bigint,
  tokens_output    bigint,
  tokens_total     bigint,
  event_count      bigint      NOT NULL,
  first_position   bigint      NOT NULL,
  PRIMARY KEY (tenant_id, query_key)
);
CREATE INDEX queries_session ON queries (tenant_id, session_id, started_at);
CREATE INDEX queries_query_id ON queries (tenant_id, query_id) WHERE query_id IS NOT NULL;
CREATE INDEX queries_query_name ON queries (tenant_id, query_name) WHERE query_name IS NOT NULL;
CREATE INDEX queries_agent ON queries (tenant_id, agent, session_id) WHERE agent IS NOT NULL;
CREATE INDEX queries_target ON queries (tenant_id, target_name, session_id) WHERE target_name IS NOT NULL;
CREATE INDEX queries_namespace ON queries (tenant_id, namespace, session_id) WHERE namespace IS NOT NULL;
CREATE INDEX queries_errors ON queries (tenant_id, session_id) WHERE error_at IS NOT NULL;
CREATE INDEX queries_started ON queries (tenant_id, started_at);

CREATE TABLE tool_calls (
  tenant_id        text        NOT NULL,
  call_key         text        NOT NULL,  -- `<query_key>|<tool id>`, else `<query_key>|span:<spanId>`
  query_key        text        NOT NULL,
  query_id         text,
  trace_id         text,
  span_id          text,
  parent_span_id   text,
  tool_name        text,
  tool_type        text,
  tool_id          text,
  parameters       jsonb,
  result           jsonb,
  error            jsonb,
  status           text        NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
  mcp_session_id   text,
  started_at       timestamptz,
  ended_at         timestamptz,
  duration_ms      double precision,
  event_count      bigint      NOT NULL,
  first_position   bigint      NOT NULL,
  PRIMARY KEY (tenant_id, call_key)
);
CREATE INDEX tool_calls_query ON tool_calls (tenant_id, query_key, first_position);
CREATE INDEX tool_calls_query_id ON tool_calls (tenant_id, query_id, first_position) WHERE query_id IS NOT NULL;
CREATE INDEX tool_calls_mcp_session ON tool_calls (tenant_id, mcp_session_id, first_position) WHERE mcp_session_id IS NOT NULL;
CREATE INDEX tool_calls_tool_name ON tool_calls (tenant_id, tool_name, first_position);

CREATE TABLE llm_calls (
  tenant_id        text        NOT NULL,
  call_key         text        NOT NULL,  -- `<traceId>:<spanId>` (LLM calls are correlated by span)
  query_key        text        NOT NULL,
  query_id         text,
  query_name       text,
  trace_id         text,
  span_id          text,
  parent_span_id   text,
  model            text,
  model_type       text,
  status           text        NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
  error            jsonb,
  tokens_input     bigint,
  tokens_output    bigint,
  tokens_total     bigint,
  started_at       timestamptz,
  ended_at         timestamptz,
  duration_ms      double precision,
  first_chunk_at   timestamptz,           -- first `llm.chunk` of the query within [started_at, ended_at]
  event_count      bigint      NOT NULL,
  first_position   bigint      NOT NULL,
  PRIMARY KEY (tenant_id, call_key)
);
CREATE INDEX llm_calls_query ON llm_calls (tenant_id, query_key, first_position);
CREATE INDEX llm_calls_query_id ON llm_calls (tenant_id, query_id, started_at) WHERE query_id IS NOT NULL;
CREATE INDEX llm_calls_query_name ON llm_calls (tenant_id, query_name, started_at) WHERE query_name IS NOT NULL;
CREATE INDEX llm_calls_started ON llm_calls (tenant_id, started_at);

-- Time to first token: the first chunk of a query inside an LLM call's window, found by range scan
-- (a call's upsert) instead of reading every event of the query.
CREATE INDEX events_llm_chunk_time ON events (tenant_id, query_id, time) WHERE type = 'llm.chunk';

-- GET /v2/sessions filters.
CREATE INDEX sessions_user_recent ON sessions (tenant_id, user_id, last_activity_at DESC, session_id) WHERE user_id IS NOT NULL;
-- GET /v2/sessions/:id: messages per session.
CREATE INDEX messages_session ON messages (tenant_id, session_id);
