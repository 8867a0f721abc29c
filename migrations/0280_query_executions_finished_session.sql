-- no-transaction
-- The reaper deletes a session's finished query executions (done, error, canceled) with the session
-- (functions/ark_reap_expired_sessions.sql): without them a reaped session's queries stayed in the
-- queue tables for ever and, their session row gone, showed again in GET /v2/queries. Partial, so a
-- query gets an entry only when it finishes (an update that writes new index entries anyway).
CREATE INDEX CONCURRENTLY IF NOT EXISTS query_executions_finished_session ON query_executions (tenant_id, session_id)
  WHERE phase IN ('done', 'error', 'canceled');
