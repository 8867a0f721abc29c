-- events_source (0003) served the reads by source: operation events (GET /events, memory), chunks
-- (GET /stream) and messages. No read goes by source = 'otlp' or 'api', yet every span paid an
-- insertion into it; OTLP ingest is the log's largest writer. Partial now, over the sources read by
-- it. A query's `source = 'chunk'` implies the IN list, so the planner still picks it.
DROP INDEX events_source;
CREATE INDEX events_source ON events (tenant_id, source, global_position)
  WHERE source IN ('operation-event', 'chunk', 'message');
