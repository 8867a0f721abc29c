-- The trace a query's spans share (the first seen, by least), so spans that name no query UID find
-- their run of a query name (libs/projections/src/query-identity.ts), which reads the newest run of a
-- name in a session by one probe of the name index: names repeat across sessions (and runs), so it
-- keys on the session and the run's position too; look-ups by name alone use its prefix.
ALTER TABLE queries ADD COLUMN trace_id text;
CREATE INDEX queries_trace ON queries (tenant_id, trace_id) WHERE trace_id IS NOT NULL;
DROP INDEX queries_query_name;
CREATE INDEX queries_query_name ON queries (tenant_id, query_name, session_id, first_position) WHERE query_name IS NOT NULL;
