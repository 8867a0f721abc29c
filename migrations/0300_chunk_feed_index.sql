-- no-transaction
-- A query's feed (GET /stream/:query, /v2/queries/:id/completion, their watches) reads the chunks
-- uploaded under the query's name in feed order from the reader's cursor: an index range in that
-- order, as events_query is for the events filed under its id. Without it the read walked the
-- tenant's whole feed past the cursor (events_tenant_feed) for every reader of every query.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_chunk_feed ON events (tenant_id, query_name, transaction_id, global_position) WHERE source = 'chunk';
