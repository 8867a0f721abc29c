-- The reaper (docs/architecture.md#retention): physically deletes what expired, `batch_size` rows (or
-- sessions) per call; each answers how many it deleted and the caller repeats while a call deletes a
-- full batch. Every read already skips expired rows, so what is deleted here was invisible.
--
-- SECURITY DEFINER: they run as the tables' owner, so they reap every tenant (row-level security
-- would show the broker's role none); they take no input but a batch size.
--
-- Safe with several replicas reaping at once: rows are claimed with FOR UPDATE SKIP LOCKED and
-- sessions with the appenders' own per-session advisory lock, taken without waiting.

-- Expired events (a session's sequence is never reused: its stream row stays while the session does).
CREATE OR REPLACE FUNCTION ark_reap_expired_events(batch_size int) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  deleted int;
  tenants text[];
  trace_ids text[];
BEGIN
  WITH gone AS (
    DELETE FROM events e
    WHERE e.ctid = ANY (ARRAY(SELECT x.ctid FROM events x WHERE x.expires_at <= now() LIMIT batch_size FOR UPDATE SKIP LOCKED))
      AND e.expires_at <= now()
    RETURNING e.tenant_id, e.trace_id, e.source
  ), traced AS (
    SELECT DISTINCT g.tenant_id, g.trace_id FROM gone g WHERE g.source = 'otlp' AND g.trace_id IS NOT NULL
  )
  SELECT (SELECT count(*) FROM gone), (SELECT array_agg(t.tenant_id) FROM traced t), (SELECT array_agg(t.trace_id) FROM traced t)
  INTO deleted, tenants, trace_ids;
  -- A new statement: it sees the deletions above.
  IF tenants IS NOT NULL THEN PERFORM ark_reap_traces(tenants, trace_ids); END IF;
  RETURN deleted;
END
$$;

REVOKE ALL ON FUNCTION ark_reap_expired_events(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_reap_expired_events(int) TO ark_broker_app;
