-- Read-side indexes found by `npm run bench -- read` (EXPLAIN at 10M events, docs/read-models.md).

-- GET /v2/sessions/:id and /v2/queries/:id summarise each query's chunks (count, first/last time,
-- completed): with `time` in the index that is an index-only scan instead of a heap fetch per chunk
-- (6,369 heap rows for a 10,000-event session). It replaces the chunk index of 0012, whose key it keeps,
-- so appends maintain no more indexes than before.
CREATE INDEX events_query_chunk_times ON events (tenant_id, query_id, global_position) INCLUDE (type, time) WHERE source = 'chunk';
DROP INDEX events_query_chunks;

-- Pending approvals of a session aggregate: read every event of the session and filtered by type
-- before; approvals are rare, so these partial indexes are small and cost other appends nothing but
-- the predicate check.
CREATE INDEX events_approvals_session ON events (tenant_id, session_id, global_position) WHERE type IN ('approval.requested', 'approval.resolved');
CREATE INDEX events_approvals_query ON events (tenant_id, query_id, global_position) WHERE type IN ('approval.requested', 'approval.resolved');

-- Upstream GET /sessions (paginated): its default order, and its statusCounts as an index-only count
-- (both were sequential scans of sessions).
CREATE INDEX sessions_queries_created ON sessions (tenant_id, queries_created_at, session_id) WHERE query_count > 0;
CREATE INDEX sessions_query_status ON sessions (tenant_id, status) WHERE query_count > 0;
