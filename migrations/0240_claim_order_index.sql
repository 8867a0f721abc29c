-- no-transaction
-- Claims take the oldest pending queries of each served namespace (ORDER BY submitted_at, query_id).
-- 0180's pending index (tenant_id, namespace, submitted_at) could not return them in that order for
-- `namespace = ANY (...)`, so every claim read and sorted the tenant's whole pending backlog while
-- holding its row locks (13 ms at 12,500 pending; 8 executors then claimed 107 queries/s). With
-- query_id in the key, a claim reads each namespace's oldest rows in order, a few index entries each
-- (ExecutionRepository.claim). It is the only index on pending rows by tenant, so the planner, which
-- has no statistics to go by on a fresh database, has no second candidate that scans the backlog.
CREATE INDEX CONCURRENTLY IF NOT EXISTS query_executions_claim_order ON query_executions (tenant_id, namespace, submitted_at, query_id) WHERE phase = 'pending';
DROP INDEX CONCURRENTLY IF EXISTS query_executions_pending;
