-- A chunk's query columns (docs/events.md §4.2): `query_name` is the query its upload path names
-- (Ark posts to `/stream/<query name>`), `query_id` the `ark.query` the chunk names (Ark's query
-- UID), null when it names none. They were stored the other way round; stored chunks are swapped
-- here, and the chunk indexes that were on `query_id` (the upload path) move to `query_name`.
UPDATE events SET query_id = query_name, query_name = query_id WHERE source = 'chunk';

DROP INDEX events_query_chunk_times;
CREATE INDEX events_chunk_query_name ON events (tenant_id, query_name, global_position) INCLUDE (type, time) WHERE source = 'chunk';

DROP INDEX events_llm_chunk_time;
CREATE INDEX events_llm_chunk_time ON events (tenant_id, query_name, time) WHERE type = 'llm.chunk';

DROP INDEX events_approvals_query;
CREATE INDEX events_approvals_query ON events (tenant_id, query_name, global_position) WHERE type IN ('approval.requested', 'approval.resolved');
