-- `traces`: one row per trace with the position of its first visible span event, so GET /traces
-- pages newest traces first through an index instead of grouping every span event of the tenant
-- (0090's read: 258 ms p50 at 10M events, 1.33M span events in 190k traces). Kept by
-- TracesProjector; a `traces` tombstone deletes the rows whose first event it covers, and a later
-- span of such a trace starts it again from its own position (what the log-backed read shows).
CREATE TABLE traces (
  tenant_id       text   NOT NULL,
  trace_id        text   NOT NULL,
  first_position  bigint NOT NULL,
  PRIMARY KEY (tenant_id, trace_id)
);
CREATE INDEX traces_recent ON traces (tenant_id, first_position);

ALTER TABLE traces ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON traces USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));

-- Existing logs: one pass over the span events above each tenant's latest traces tombstone.
INSERT INTO traces (tenant_id, trace_id, first_position)
SELECT e.tenant_id, e.trace_id, min(e.global_position)
FROM events e
WHERE e.source = 'otlp'
  AND e.global_position > (SELECT coalesce(max(d.up_to_position), 0) FROM deletions d
                           WHERE d.tenant_id = e.tenant_id AND d.scope = 'traces' AND d.query_id IS NULL)
GROUP BY e.tenant_id, e.trace_id;
