-- Small partial indexes over the queries that decide a session's /v2 status and error flag. The
-- session list's status and hasErrors filters test them per session (EXISTS) before computing the
-- full summary, so a rare status (a few percent of sessions active or failed) no longer costs a
-- summary of every newer session. Each holds only the rows its predicate names, so the write path
-- maintains them only for those queries.
CREATE INDEX queries_unfinished ON queries (tenant_id, session_id) WHERE phase IN ('running', 'pending');
CREATE INDEX queries_failed ON queries (tenant_id, session_id) WHERE phase = 'error';
