-- Recomputes the call totals of the given queries (queries.llm_tokens_*, models, tools; 0100) from
-- `llm_calls` and `tool_calls`, writing only the rows that change; returns how many changed.
-- QueriesProjector calls it for the queries whose calls a batch wrote, after its upsert has locked
-- their rows. Every appender writes a query's calls before it upserts the query, so a statement that
-- starts once this transaction holds the row sees every committed call of it, and an appender whose
-- calls it cannot see recomputes after it.
-- A custom plan at every call: a cached generic plan made while the call tables were empty picked
-- an index on the tenant alone (llm_calls_started) and would scan the tenant's calls once they have
-- grown (libs/database/src/prepared-statements.ts).
-- Unqualified names, so a projections rebuild (search_path = ark_rebuild, …) works on its copies.
CREATE OR REPLACE FUNCTION ark_roll_up_query_calls(tenant_ids text[], query_keys text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
  changed_count integer;
BEGIN
  WITH changed AS (
    UPDATE queries q SET
      llm_tokens_input = l.tokens_input, llm_tokens_output = l.tokens_output, llm_tokens_total = l.tokens_total,
      models = l.models, tools = c.tools
    FROM (SELECT DISTINCT t, qk FROM unnest(tenant_ids, query_keys) AS k(t, qk)) k
    CROSS JOIN LATERAL (
      SELECT sum(x.tokens_input) AS tokens_input, sum(x.tokens_output) AS tokens_output,
             sum(coalesce(x.tokens_total, x.tokens_input + x.tokens_output)) AS tokens_total,
             coalesce(array_agg(DISTINCT x.model ORDER BY x.model) FILTER (WHERE x.model IS NOT NULL), '{}') AS models
      FROM llm_calls x WHERE x.tenant_id = k.t AND x.query_key = k.qk
    ) l
    CROSS JOIN LATERAL (
      SELECT coalesce(array_agg(DISTINCT x.tool_name ORDER BY x.tool_name) FILTER (WHERE x.tool_name IS NOT NULL), '{}') AS tools
      FROM tool_calls x WHERE x.tenant_id = k.t AND x.query_key = k.qk
    ) c
    WHERE q.tenant_id = k.t AND q.query_key = k.qk
      AND (q.llm_tokens_input, q.llm_tokens_output, q.llm_tokens_total, q.models, q.tools)
          IS DISTINCT FROM (l.tokens_input, l.tokens_output, l.tokens_total, l.models, c.tools)
    RETURNING 1
  )
  SELECT count(*)::int INTO changed_count FROM changed;
  RETURN changed_count;
END
$$;
