-- A session's work as GET /v2/sessions reports it, from its rows in `queries` alone (spans and
-- operation events alike; the call totals of 0100): status, query and error counts, namespaces,
-- participants and token totals. One definition, read by the API and by SQL.
-- Status follows upstream's session rule over the queries' phases: active while one is pending or
-- running, else error when the latest one failed, else idle (also with no queries: the aggregate
-- below has no GROUP BY, so it is one row for every session).
-- A STABLE single-SELECT SQL function without SET clauses is inlined into the statement that calls
-- it, so `CROSS JOIN LATERAL ark_session_work(s.tenant_id, s.session_id)` is planned as the index
-- scan of that session's queries (queries_session), not a function call per row; and it runs
-- with the caller's rights, so row-level security applies as on `queries`. ROWS 1: where it is
-- not inlined (called in a select list) the planner should still expect one row.
CREATE OR REPLACE FUNCTION ark_session_work(tenant text, session text)
RETURNS TABLE (
  status text, query_count integer, error_query_count integer, has_errors boolean,
  namespaces text[], agents text[], teams text[], models text[], tools text[],
  tokens_input bigint, tokens_output bigint, tokens_total bigint
)
LANGUAGE sql STABLE ROWS 1
AS $$
  SELECT CASE WHEN bool_or(q.phase IN ('running', 'pending')) THEN 'active'
              WHEN (array_agg(q.phase ORDER BY q.last_event_at DESC, q.query_key))[1] = 'error' THEN 'error'
              ELSE 'idle' END,
         count(*)::integer,
         (count(*) FILTER (WHERE q.phase = 'error'))::integer,
         coalesce(bool_or(q.error_at IS NOT NULL), false),
         coalesce(array_agg(DISTINCT q.namespace ORDER BY q.namespace) FILTER (WHERE q.namespace IS NOT NULL), '{}'),
         coalesce(array_agg(DISTINCT q.agent ORDER BY q.agent) FILTER (WHERE q.agent IS NOT NULL), '{}'),
         coalesce(array_agg(DISTINCT q.target_name ORDER BY q.target_name) FILTER (WHERE q.target_type = 'team' AND q.target_name IS NOT NULL), '{}'),
         -- Each query's models and tools are distinct and sorted; the session's are their union.
         coalesce((SELECT array_agg(DISTINCT n ORDER BY n) FROM unnest(ark_array_concat(q.models)) AS n), '{}'),
         coalesce((SELECT array_agg(DISTINCT n ORDER BY n) FROM unnest(ark_array_concat(q.tools)) AS n), '{}'),
         -- LLM calls' tokens where a query has them, else what its completion reported.
         coalesce(sum(coalesce(q.llm_tokens_input, q.tokens_input)), 0)::bigint,
         coalesce(sum(coalesce(q.llm_tokens_output, q.tokens_output)), 0)::bigint,
         coalesce(sum(coalesce(q.llm_tokens_total, q.tokens_total, q.tokens_input + q.tokens_output)), 0)::bigint
  FROM queries q
  -- Qualified: a column of `queries` with a parameter's name would otherwise win.
  WHERE q.tenant_id = ark_session_work.tenant AND q.session_id = ark_session_work.session
$$;
