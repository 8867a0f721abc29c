-- Reads of the upstream-compatible routes go by query (a query's part of the gap-free feed, in feed
-- order) and by source, in log order.
DROP INDEX events_query;
CREATE INDEX events_query ON events (tenant_id, query_id, transaction_id, global_position) WHERE query_id IS NOT NULL;
CREATE INDEX events_source ON events (tenant_id, source, global_position);
