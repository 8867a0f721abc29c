-- The reaper (docs/architecture.md#retention): physically deletes what expired, `batch_size` rows (or
-- sessions) per call; each answers how many it deleted and the caller repeats while a call deletes a
-- full batch. Every read already skips expired rows, so what is deleted here was invisible.
--
-- SECURITY DEFINER: they run as the tables' owner, so they reap every tenant (row-level security
-- would show the broker's role none); they take no input but a batch size.
--
-- Safe with several replicas reaping at once: rows are claimed with FOR UPDATE SKIP LOCKED and
-- sessions with the appenders' own per-session advisory lock, taken without waiting.

-- Expired events (a session's sequence is never reused: its stream row stays while the session does),
-- with their dedupe keys. `events` is partitioned (0253) and a ctid names a row only within one
-- partition, so rows are claimed and deleted partition by partition, oldest first, up to batch_size
-- in all. (Whole partitions whose rows all expired are dropped by ark_drop_event_partition.)
CREATE OR REPLACE FUNCTION ark_reap_expired_events(batch_size int) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  part text;
  n int;
  deleted int := 0;
  part_tenants text[];
  part_trace_ids text[];
  tenants text[] := '{}';
  trace_ids text[] := '{}';
BEGIN
  FOR part IN SELECT p.name FROM ark_event_partitions() p LOOP
    EXIT WHEN deleted >= batch_size;
    EXECUTE format($q$
      WITH gone AS (
        DELETE FROM %1$I e
        WHERE e.ctid = ANY (ARRAY(SELECT x.ctid FROM %1$I x WHERE x.expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED))
          AND e.expires_at <= now()
        RETURNING e.tenant_id, e.session_id, e.sequence, e.dedupe_key, e.trace_id, e.source
      ), keys AS (
        DELETE FROM event_dedupe_keys k USING gone g
        WHERE g.dedupe_key IS NOT NULL AND k.tenant_id = g.tenant_id AND k.session_id = g.session_id
          AND k.dedupe_key = g.dedupe_key AND k.sequence = g.sequence
      ), traced AS (
        SELECT DISTINCT g.tenant_id, g.trace_id FROM gone g WHERE g.source = 'otlp' AND g.trace_id IS NOT NULL
      )
      SELECT (SELECT count(*) FROM gone), (SELECT array_agg(t.tenant_id) FROM traced t), (SELECT array_agg(t.trace_id) FROM traced t)$q$, part)
    INTO n, part_tenants, part_trace_ids USING batch_size - deleted;
    deleted := deleted + n;
    tenants := tenants || coalesce(part_tenants, '{}');
    trace_ids := trace_ids || coalesce(part_trace_ids, '{}');
  END LOOP;
  -- A new statement: it sees the deletions above.
  IF cardinality(tenants) > 0 THEN PERFORM ark_reap_traces(tenants, trace_ids); END IF;
  RETURN deleted;
END
$$;

REVOKE ALL ON FUNCTION ark_reap_expired_events(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_reap_expired_events(int) TO ark_broker_app;
