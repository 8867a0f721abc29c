-- A query's chunk stream (count, completion, next index) is read on every upload and completion; a
-- partial index keeps that read proportional to the query's chunks, not the tenant's, whatever the
-- planner's statistics say right after a burst of inserts.
CREATE INDEX events_query_chunks ON events (tenant_id, query_id, global_position) INCLUDE (type) WHERE source = 'chunk';
