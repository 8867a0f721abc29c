-- The native summary of each session, kept in `sessions` instead of computed by every read of
-- GET /v2/sessions from all of the session's queries (7.1 ms a page of 51 sessions × 66 queries).
-- It summarises the native read models (`queries`, `llm_calls`, `tool_calls`: spans and events
-- alike), so it differs from upstream's `status` / `query_count` / `error_count` (0008), which
-- summarise `session_queries` (operation events and POST /sessions only).
ALTER TABLE sessions
  ADD COLUMN work_status        text     NOT NULL DEFAULT 'idle' CHECK (work_status IN ('active', 'idle', 'error')),
  ADD COLUMN work_query_count   integer  NOT NULL DEFAULT 0,
  ADD COLUMN work_error_count   integer  NOT NULL DEFAULT 0,
  ADD COLUMN has_errors         boolean  NOT NULL DEFAULT false,
  ADD COLUMN namespaces         text[]   NOT NULL DEFAULT '{}',
  ADD COLUMN agents             text[]   NOT NULL DEFAULT '{}',
  ADD COLUMN teams              text[]   NOT NULL DEFAULT '{}',
  ADD COLUMN models             text[]   NOT NULL DEFAULT '{}',
  ADD COLUMN tools              text[]   NOT NULL DEFAULT '{}',
  ADD COLUMN tokens_input       bigint   NOT NULL DEFAULT 0,
  ADD COLUMN tokens_output      bigint   NOT NULL DEFAULT 0,
  ADD COLUMN tokens_total       bigint   NOT NULL DEFAULT 0;

-- GET /v2/sessions?status= and ?hasErrors=true, in the list's order.
CREATE INDEX sessions_work_status ON sessions (tenant_id, work_status, last_activity_at DESC, session_id);
CREATE INDEX sessions_with_errors ON sessions (tenant_id, last_activity_at DESC, session_id) WHERE has_errors;

-- Scratch column of QueriesProjector: the upsert that moves a query to a higher-ranked session
-- writes the session it leaves here, under the row's lock, and the same transaction clears it. It is
-- how the projector learns exactly which session lost the query (RETURNING shows only new values),
-- even when another transaction inserted the row a moment before. NULL outside that transaction.
ALTER TABLE queries ADD COLUMN moved_from_session_id text;

-- Recomputes the summary of the given sessions from their rows in `queries`, `llm_calls` and
-- `tool_calls`, writing only the rows that change, and returns how many changed. Called by
-- QueriesProjector for the sessions a batch touched, after it has locked their `sessions` rows, so
-- this statement's snapshot holds every committed change to them (READ COMMITTED: a snapshot per
-- statement). SQL, not PL/pgSQL: planned at each call for its sessions, never a cached generic plan.
-- Unqualified names, so a projections rebuild (search_path = ark_rebuild, …) summarises its copies.
--   status: active while a query is running or pending; else error when the latest query (by last
--     event, then key) failed; else idle.
--   tokens: per query, the sum over its LLM calls when they report usage, else the query's own.
--   participants: agents (queries' agent, agent targets), teams, models (LLM calls, model targets)
--     and tools (tool calls, tool targets), each distinct and sorted.
CREATE FUNCTION ark_summarise_session_work(tenant_ids text[], session_ids text[]) RETURNS integer
LANGUAGE sql VOLATILE SECURITY INVOKER
AS $$
  WITH k AS (
    SELECT DISTINCT t, sid FROM unnest(tenant_ids, session_ids) AS k(t, sid)
  ), q AS (
    SELECT k.t, k.sid, q.query_key, q.phase, q.error_at, q.last_event_at, q.namespace, q.agent, q.target_type, q.target_name,
           coalesce(l.tokens_input, q.tokens_input) AS tokens_input,
           coalesce(l.tokens_output, q.tokens_output) AS tokens_output,
           coalesce(l.tokens_total, q.tokens_total, q.tokens_input + q.tokens_output) AS tokens_total,
           l.models, c.tools
    FROM k
    JOIN queries q ON q.tenant_id = k.t AND q.session_id = k.sid
    CROSS JOIN LATERAL (
      SELECT sum(x.tokens_input) AS tokens_input, sum(x.tokens_output) AS tokens_output,
             sum(coalesce(x.tokens_total, x.tokens_input + x.tokens_output)) AS tokens_total,
             array_agg(DISTINCT x.model) FILTER (WHERE x.model IS NOT NULL) AS models
      FROM llm_calls x WHERE x.tenant_id = q.tenant_id AND x.query_key = q.query_key
    ) l
    CROSS JOIN LATERAL (
      SELECT array_agg(DISTINCT x.tool_name) FILTER (WHERE x.tool_name IS NOT NULL) AS tools
      FROM tool_calls x WHERE x.tenant_id = q.tenant_id AND x.query_key = q.query_key
    ) c
  ), names AS (
    SELECT t, sid, 'agent' AS kind, agent AS name FROM q WHERE agent IS NOT NULL
    UNION SELECT t, sid, target_type, target_name FROM q WHERE target_type IN ('agent', 'team', 'model', 'tool') AND target_name IS NOT NULL
    UNION SELECT t, sid, 'model', unnest(models) FROM q
    UNION SELECT t, sid, 'tool', unnest(tools) FROM q
  ), summary AS (
    SELECT k.t, k.sid,
           count(q.query_key)::int AS query_count,
           (count(*) FILTER (WHERE q.phase = 'error'))::int AS error_count,
           coalesce(bool_or(q.error_at IS NOT NULL), false) AS has_errors,
           CASE WHEN bool_or(q.phase IN ('running', 'pending')) THEN 'active'
                WHEN (array_agg(q.phase ORDER BY q.last_event_at DESC, q.query_key))[1] = 'error' THEN 'error'
                ELSE 'idle' END AS status,
           coalesce(array_agg(DISTINCT q.namespace ORDER BY q.namespace) FILTER (WHERE q.namespace IS NOT NULL), '{}') AS namespaces,
           coalesce(sum(q.tokens_input), 0)::bigint AS tokens_input,
           coalesce(sum(q.tokens_output), 0)::bigint AS tokens_output,
           coalesce(sum(q.tokens_total), 0)::bigint AS tokens_total
    FROM k LEFT JOIN q ON q.t = k.t AND q.sid = k.sid
    GROUP BY k.t, k.sid
  ), changed AS (
    UPDATE sessions s SET
      work_status = a.status, work_query_count = a.query_count, work_error_count = a.error_count, has_errors = a.has_errors,
      namespaces = a.namespaces, agents = p.agents, teams = p.teams, models = p.models, tools = p.tools,
      tokens_input = a.tokens_input, tokens_output = a.tokens_output, tokens_total = a.tokens_total
    FROM summary a
    CROSS JOIN LATERAL (
      SELECT coalesce(array_agg(n.name ORDER BY n.name) FILTER (WHERE n.kind = 'agent'), '{}') AS agents,
             coalesce(array_agg(n.name ORDER BY n.name) FILTER (WHERE n.kind = 'team'), '{}') AS teams,
             coalesce(array_agg(n.name ORDER BY n.name) FILTER (WHERE n.kind = 'model'), '{}') AS models,
             coalesce(array_agg(n.name ORDER BY n.name) FILTER (WHERE n.kind = 'tool'), '{}') AS tools
      FROM names n WHERE n.t = a.t AND n.sid = a.sid
    ) p
    WHERE s.tenant_id = a.t AND s.session_id = a.sid
      AND (s.work_status, s.work_query_count, s.work_error_count, s.has_errors, s.namespaces, s.agents, s.teams, s.models, s.tools,
           s.tokens_input, s.tokens_output, s.tokens_total)
          IS DISTINCT FROM
          (a.status, a.query_count, a.error_count, a.has_errors, a.namespaces, p.agents, p.teams, p.models, p.tools,
           a.tokens_input, a.tokens_output, a.tokens_total)
    RETURNING 1
  )
  SELECT count(*)::int FROM changed
$$;

-- Existing databases: every session that has queries, once.
SELECT ark_summarise_session_work(array_agg(tenant_id), array_agg(session_id))
FROM (SELECT DISTINCT tenant_id, session_id FROM queries) k;
