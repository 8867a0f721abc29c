-- Part of the reaper (functions/ark_reap_expired_events.sql says how it works).
--
-- A trace's `first_position` (its place in GET /traces) after some of its span events were deleted:
-- its first remaining span above the tenant's latest traces tombstone, as TracesProjector would
-- compute it from the log; a trace with none left is deleted. Rows are locked in the order
-- TracesProjector locks them (tenant, trace in code-unit order), so neither waits on the other in a cycle.
CREATE OR REPLACE FUNCTION ark_reap_traces(tenants text[], trace_ids text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM 1 FROM traces t
  WHERE (t.tenant_id, t.trace_id) IN (SELECT * FROM unnest(tenants, trace_ids))
  ORDER BY t.tenant_id COLLATE "C", t.trace_id COLLATE "C"
  FOR UPDATE;

  WITH recomputed AS (
    SELECT t.tenant_id, t.trace_id,
           (SELECT min(e.global_position) FROM events e
            WHERE e.tenant_id = t.tenant_id AND e.trace_id = t.trace_id AND e.source = 'otlp'
              AND e.global_position > (SELECT coalesce(max(d.up_to_position), 0) FROM deletions d
                                       WHERE d.tenant_id = t.tenant_id AND d.scope = 'traces' AND d.query_id IS NULL)) AS first
    FROM traces t
    WHERE (t.tenant_id, t.trace_id) IN (SELECT * FROM unnest(tenants, trace_ids))
  ), moved AS (
    UPDATE traces t SET first_position = r.first FROM recomputed r
    WHERE t.tenant_id = r.tenant_id AND t.trace_id = r.trace_id AND r.first IS NOT NULL AND r.first <> t.first_position
  )
  DELETE FROM traces t USING recomputed r
  WHERE t.tenant_id = r.tenant_id AND t.trace_id = r.trace_id AND r.first IS NULL;
END
$$;

REVOKE ALL ON FUNCTION ark_reap_traces(text[], text[]) FROM PUBLIC;
