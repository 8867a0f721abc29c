-- The query-execution sweeper (docs/executors.md#leases-ttl-and-the-sweeper): the tenants with work
-- due, that is a lease that ran out, a pending query past its TTL, or a transition whose ark event
-- was not appended within `publish_grace` (the broker stopped between the two). The sweeper then
-- does that work in each tenant's own scope.
--
-- SECURITY DEFINER: it runs as the tables' owner, so it sees every tenant (row-level security would
-- show the broker's role none outside a request); it answers tenant ids only.
CREATE OR REPLACE FUNCTION ark_query_execution_due_tenants(publish_grace interval) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT t), '{}') FROM (
    SELECT tenant_id FROM query_executions WHERE phase IN ('assigned', 'running') AND lease_expires_at <= now()
    UNION ALL
    SELECT tenant_id FROM query_executions WHERE phase = 'pending' AND ttl_expires_at <= now()
    UNION ALL
    SELECT tenant_id FROM query_transitions WHERE NOT published AND at <= now() - publish_grace
  ) due(t)
$$;

REVOKE ALL ON FUNCTION ark_query_execution_due_tenants(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_query_execution_due_tenants(interval) TO ark_broker_app;
