-- The totals behind upstream ark-broker's /metrics gauges (`broker_*_count`, ark PR #3093), across
-- every tenant. Only counts leave it, never rows, so it runs with the owner's rights: under
-- row-level security the broker's role sees nothing outside a tenant scope. Exact counts: the
-- broker caches them between scrapes (apps/broker/src/metrics/upstream-counts.ts).
CREATE OR REPLACE FUNCTION ark_upstream_counts()
RETURNS TABLE (messages bigint, chunks bigint, spans bigint, operation_events bigint, sessions bigint, session_queries bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT (SELECT count(*) FROM messages WHERE expires_at > now()),
         (SELECT count(*) FROM events WHERE source = 'chunk' AND expires_at > now()),
         (SELECT count(*) FROM events WHERE source = 'otlp' AND expires_at > now()),
         (SELECT count(*) FROM events WHERE source = 'operation-event' AND expires_at > now()),
         (SELECT count(*) FROM sessions WHERE query_count > 0 AND expires_at > now()),
         (SELECT count(*) FROM session_queries)
$$;

REVOKE ALL ON FUNCTION ark_upstream_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_upstream_counts() TO ark_broker_app;
