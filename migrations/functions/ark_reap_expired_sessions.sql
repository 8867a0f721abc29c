-- Part of the reaper (functions/ark_reap_expired_events.sql says how it works).
--
-- Expired sessions with everything read from them: what is left of their events, their stream row,
-- queries, tool and LLM calls, upstream session entries, messages, and the finished query executions
-- of the executors' queue with their transitions.
--
-- A session holding a pending, assigned or running query is live work and is not taken (QueueUpkeep
-- keeps it from expiring: functions/ark_keep_working_sessions_open.sql). A query submitted while its
-- session is reaped commits after this check and stays; its first event starts the session again.
--
-- A session is taken only under the lock its appenders take (ark_append_events), without waiting:
-- one being appended to is skipped (the append renews it), as is one another reaper holds. Its expiry
-- is read again under the lock, so an append that committed just before is seen. An append that
-- comes after finds no stream row and starts the session again from sequence 1, as a new session.
CREATE OR REPLACE FUNCTION ark_reap_expired_sessions(batch_size int) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  tenants text[];
  session_ids text[];
  trace_tenants text[];
  trace_ids text[];
BEGIN
  SELECT array_agg(c.tenant_id), array_agg(c.session_id) INTO tenants, session_ids
  FROM (SELECT s.tenant_id, s.session_id FROM sessions s
        WHERE s.expires_at <= now()
          AND NOT EXISTS (SELECT 1 FROM query_executions q WHERE q.tenant_id = s.tenant_id AND q.session_id = s.session_id
                            AND q.phase IN ('pending', 'assigned', 'running'))
        ORDER BY s.expires_at LIMIT batch_size) c
  WHERE pg_try_advisory_xact_lock(hashtextextended(c.tenant_id || '/' || c.session_id, 0));
  IF tenants IS NULL THEN RETURN 0; END IF;

  -- A new statement, so a fresh snapshot: the commits of appenders that held a lock before us.
  SELECT array_agg(s.tenant_id), array_agg(s.session_id) INTO tenants, session_ids
  FROM sessions s
  WHERE (s.tenant_id, s.session_id) IN (SELECT * FROM unnest(tenants, session_ids)) AND s.expires_at <= now()
    AND NOT EXISTS (SELECT 1 FROM query_executions q WHERE q.tenant_id = s.tenant_id AND q.session_id = s.session_id
      AND q.phase IN ('pending', 'assigned', 'running'));
  IF tenants IS NULL THEN RETURN 0; END IF;

  WITH gone AS (
    DELETE FROM events e WHERE (e.tenant_id, e.session_id) IN (SELECT * FROM unnest(tenants, session_ids))
    RETURNING e.tenant_id, e.trace_id, e.source
  ), traced AS (
    SELECT DISTINCT g.tenant_id, g.trace_id FROM gone g WHERE g.source = 'otlp' AND g.trace_id IS NOT NULL
  )
  SELECT array_agg(t.tenant_id), array_agg(t.trace_id) INTO trace_tenants, trace_ids FROM traced t;
  IF trace_tenants IS NOT NULL THEN PERFORM ark_reap_traces(trace_tenants, trace_ids); END IF;

  WITH doomed AS (
    SELECT q.tenant_id, q.query_key FROM queries q WHERE (q.tenant_id, q.session_id) IN (SELECT * FROM unnest(tenants, session_ids))
  ), tools AS (
    DELETE FROM tool_calls c USING doomed d WHERE c.tenant_id = d.tenant_id AND c.query_key = d.query_key
  ), llm AS (
    DELETE FROM llm_calls c USING doomed d WHERE c.tenant_id = d.tenant_id AND c.query_key = d.query_key
  )
  DELETE FROM queries q USING doomed d WHERE q.tenant_id = d.tenant_id AND q.query_key = d.query_key;

  DELETE FROM session_queries x WHERE (x.tenant_id, x.session_id) IN (SELECT * FROM unnest(tenants, session_ids));
  DELETE FROM messages x WHERE (x.tenant_id, x.session_id) IN (SELECT * FROM unnest(tenants, session_ids));
  -- Through query_executions_session (migrations/0310); query_transitions cascade.
  DELETE FROM query_executions x WHERE (x.tenant_id, x.session_id) IN (SELECT * FROM unnest(tenants, session_ids))
    AND x.phase IN ('done', 'error', 'canceled');
  DELETE FROM event_streams x WHERE (x.tenant_id, x.session_id) IN (SELECT * FROM unnest(tenants, session_ids));
  DELETE FROM sessions x WHERE (x.tenant_id, x.session_id) IN (SELECT * FROM unnest(tenants, session_ids));
  RETURN cardinality(tenants);
END
$$;

REVOKE ALL ON FUNCTION ark_reap_expired_sessions(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_reap_expired_sessions(int) TO ark_broker_app;
