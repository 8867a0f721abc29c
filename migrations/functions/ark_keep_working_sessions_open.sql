-- A session holding unfinished work of the executors' queue (a pending, assigned or running query)
-- stays visible while the work lasts, however long it waits for an executor or runs between two
-- transitions. QueueUpkeep calls this every QUERY_UPKEEP_INTERVAL_SECONDS: each such session that
-- would expire within `within` is given until `now() + keep`. When the work ends, its last
-- transition's event slides the expiry as any event does (SessionsProjector); the reaper never takes
-- a session holding work (ark_reap_expired_sessions).
--
-- Its events and messages still expire on their own TTLs. A session already expired (upkeep was off)
-- shows again. Rows an appender holds are skipped (SKIP LOCKED), not waited for: the append renews
-- the expiry itself, and the next call sees the row again.
--
-- SECURITY DEFINER: it runs as the tables' owner, across tenants (row-level security would show the
-- broker's role none outside a request); it answers how many sessions it kept.
CREATE OR REPLACE FUNCTION ark_keep_working_sessions_open(within interval, keep interval) RETURNS int
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH working AS (
    -- Each through its partial index: the claim index, then the lease index.
    SELECT tenant_id, session_id FROM query_executions WHERE phase = 'pending'
    UNION
    SELECT tenant_id, session_id FROM query_executions WHERE phase IN ('assigned', 'running')
  ), due AS (
    SELECT s.tenant_id, s.session_id FROM sessions s JOIN working w ON w.tenant_id = s.tenant_id AND w.session_id = s.session_id
    WHERE s.expires_at < now() + within
    ORDER BY s.tenant_id, s.session_id
    FOR UPDATE OF s SKIP LOCKED
  ), kept AS (
    UPDATE sessions s SET expires_at = greatest(s.expires_at, now() + keep)
    FROM due d WHERE s.tenant_id = d.tenant_id AND s.session_id = d.session_id
    RETURNING 1
  )
  SELECT count(*)::int FROM kept
$$;

REVOKE ALL ON FUNCTION ark_keep_working_sessions_open(interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_keep_working_sessions_open(interval, interval) TO ark_broker_app;
