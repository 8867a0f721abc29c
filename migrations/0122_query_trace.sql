-- The trace a query's spans share (the first seen, by least), so spans that name no query UID find
-- their run of a query name (libs/projections/src/query-identity.ts).
ALTER TABLE queries ADD COLUMN trace_id text;
CREATE INDEX queries_trace ON queries (tenant_id, trace_id) WHERE trace_id IS NOT NULL;
