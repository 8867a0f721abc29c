-- Reads of the upstream-compatible routes go by query and by source, in log order.
DROP INDEX events_query;
CREATE INDEX events_query ON events (tenant_id, query_id, global_position) WHERE query_id IS NOT NULL;
CREATE INDEX events_source ON events (tenant_id, source, global_position);
