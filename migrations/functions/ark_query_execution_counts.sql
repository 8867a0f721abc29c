-- The depth of the executors' work queue behind /metrics' `ark_broker_query_executions` gauge, across
-- every tenant: queries pending, assigned and running, each counted through the partial index of
-- its phase (query_executions_claim_order, query_executions_executor). Only counts leave it, so it
-- runs with the owner's rights: under row-level security the broker's role sees nothing outside a
-- tenant scope. The broker caches it between scrapes (apps/broker/src/metrics/database-counts.ts).
CREATE OR REPLACE FUNCTION ark_query_execution_counts()
RETURNS TABLE (pending bigint, assigned bigint, running bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT (SELECT count(*) FROM query_executions WHERE phase = 'pending'),
         (SELECT count(*) FROM query_executions WHERE phase = 'assigned'),
         (SELECT count(*) FROM query_executions WHERE phase = 'running')
$$;

REVOKE ALL ON FUNCTION ark_query_execution_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_query_execution_counts() TO ark_broker_app;
