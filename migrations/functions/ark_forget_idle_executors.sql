-- Executors the queue has not heard from (claim or heartbeat) for `idle` and that hold no query:
-- deleted from `query_executors`, whose rows would otherwise pile up with every pod name a deploy
-- ever gave (GET /v2/executors shows only those seen within a minute or holding queries, so the rows
-- taken show nowhere). QueueUpkeep calls this every QUERY_UPKEEP_INTERVAL_SECONDS. An executor that
-- claims again is recorded again. Under READ COMMITTED a claim that recorded the executor while this
-- ran is re-checked against the new last_seen_at, and kept.
--
-- SECURITY DEFINER: it runs as the tables' owner, across tenants; it answers how many it deleted.
CREATE OR REPLACE FUNCTION ark_forget_idle_executors(idle interval) RETURNS int
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH gone AS (
    DELETE FROM query_executors x
    WHERE x.last_seen_at < now() - idle
      -- Through query_executions_executor (migrations/0180).
      AND NOT EXISTS (SELECT 1 FROM query_executions e WHERE e.tenant_id = x.tenant_id AND e.assigned_executor = x.executor_id
                        AND e.phase IN ('assigned', 'running'))
    RETURNING 1
  )
  SELECT count(*)::int FROM gone
$$;

REVOKE ALL ON FUNCTION ark_forget_idle_executors(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_forget_idle_executors(interval) TO ark_broker_app;
