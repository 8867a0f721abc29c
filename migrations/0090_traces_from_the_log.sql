-- GET /traces reads the spans straight from the log (`otlp` events keep the decoded span in
-- `data.span`) instead of from the `spans` read model. The read model held a second copy of every
-- span and cost each OTLP batch an upsert plus four index insertions per span: about a fifth of
-- PostgreSQL's time per batch and the largest part of its WAL (profiled in bench, stop 13).
--
-- Reads group a tenant's `otlp` events by trace (newest trace first by its first event) and, per
-- span, take the ended version (a start never undoes an end). That needs the events of one source by
-- trace in position order: events_spans. events_trace served only trace reads and is replaced.
DROP TABLE spans;
DROP INDEX events_trace;
CREATE INDEX events_spans ON events (tenant_id, trace_id, global_position) WHERE source = 'otlp';
