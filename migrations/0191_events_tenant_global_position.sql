-- no-transaction
-- Every unique key of a tenant-owned table includes tenant_id (docs/scaling.md, held by
-- test/scaling-plan.test.ts), so the log can be distributed by tenant: a distributed PostgreSQL
-- (Citus) enforces a unique index only when it holds the distribution column. global_position comes
-- from a sequence, so it stays unique; the index serves lookups by (tenant, position) as before.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS events_tenant_global_position ON events (tenant_id, global_position);
DROP INDEX CONCURRENTLY IF EXISTS events_global_position;
