-- Compaction (docs/architecture.md#compaction): the chunk runs that ended (their stream completed, or
-- their query ended: Ark's chunks name the query UID as their run) after `since` and at least
-- `delay_seconds` ago (the database's clock, which stamped recorded_at), and still
-- have chunks no `llm_completions` row covers, oldest end first.
--
-- SECURITY DEFINER: it looks at every tenant (row-level security would show the broker's role none)
-- and answers only run names; the compactor then reads and folds each run in its tenant's scope.
CREATE OR REPLACE FUNCTION ark_chunk_runs_to_compact(since timestamptz, delay_seconds int, max_runs int)
RETURNS TABLE (tenant_id text, query_name text, run text, ended_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH ends AS (
    SELECT e.tenant_id, e.query_name, e.query_id, e.type, e.recorded_at FROM events e
    WHERE e.type IN ('llm.stream.completed', 'query.completed', 'query.failed', 'query.canceled')
      AND e.recorded_at > since AND e.recorded_at <= now() - make_interval(secs => delay_seconds)
  ), runs AS (
    SELECT DISTINCT ON (r.tenant_id, r.query_name, r.run) r.tenant_id, r.query_name, r.run, r.ended_at FROM (
      SELECT n.tenant_id, n.query_name, coalesce(n.query_id, '') AS run, n.recorded_at AS ended_at
      FROM ends n WHERE n.type = 'llm.stream.completed' AND n.query_name IS NOT NULL
      UNION ALL
      SELECT c.tenant_id, c.query_name, c.query_id, n.recorded_at
      FROM ends n
      CROSS JOIN LATERAL (
        SELECT DISTINCT x.tenant_id, x.query_name, x.query_id FROM events x
        WHERE x.tenant_id = n.tenant_id AND x.query_id = n.query_id AND x.source = 'chunk' AND x.type = 'llm.chunk'
      ) c
      WHERE n.type <> 'llm.stream.completed' AND n.query_id IS NOT NULL
    ) r
    ORDER BY r.tenant_id, r.query_name, r.run, r.ended_at
  )
  SELECT r.tenant_id, r.query_name, r.run, r.ended_at FROM runs r
  WHERE EXISTS (
    SELECT 1 FROM events c
    WHERE c.tenant_id = r.tenant_id AND c.query_name = r.query_name AND c.source = 'chunk' AND c.type = 'llm.chunk'
      AND coalesce(c.query_id, '') = r.run AND c.expires_at > now()
      AND NOT EXISTS (SELECT 1 FROM llm_completions l
                      WHERE l.tenant_id = c.tenant_id AND l.query_name = c.query_name AND l.run = r.run
                        AND c.global_position BETWEEN l.first_position AND l.last_position))
  ORDER BY r.ended_at
  LIMIT max_runs
$$;

REVOKE ALL ON FUNCTION ark_chunk_runs_to_compact(timestamptz, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_chunk_runs_to_compact(timestamptz, int, int) TO ark_broker_app;
