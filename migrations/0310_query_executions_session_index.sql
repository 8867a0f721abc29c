-- no-transaction
-- A session's query executions, whatever their phase: the reaper deletes the finished ones with
-- their session and leaves a session holding unfinished ones alone (functions/ark_reap_expired_sessions.sql).
-- It replaces the partial index of finished ones (0280): a transition rewrites the row and so adds
-- an entry to every index anyway (phase is in the partial indexes' predicates: no HOT update), so the
-- whole index costs no more writes per query than the two partial ones it would otherwise take.
CREATE INDEX CONCURRENTLY IF NOT EXISTS query_executions_session ON query_executions (tenant_id, session_id);
DROP INDEX CONCURRENTLY IF EXISTS query_executions_finished_session;
