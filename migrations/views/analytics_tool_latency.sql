-- SQL analytics over the read models of 0009 (docs/read-models.md has example queries). A plain view:
-- always current, no refresh; filter it by tenant_id (and a day range) like any table. It runs with
-- the rights of whoever queries it (security_invoker), so row-level security (0030) applies through
-- it as it does to the tables: the broker's role sees only the tenants in `ark.tenant_ids`. Analysts
-- read its copy over the analyst_* views, views/analyst_tool_latency.sql: keep the two alike.
--
-- Finished tool calls: latency percentiles and error rate per tool (all time; filter tool_calls by
-- started_at yourself for a window, see docs/read-models.md).
CREATE OR REPLACE VIEW analytics_tool_latency WITH (security_invoker = true) AS
SELECT tenant_id,
       tool_name,
       tool_type,
       count(*)                                   AS calls,
       count(*) FILTER (WHERE status = 'failed')  AS failed,
       round(count(*) FILTER (WHERE status = 'failed')::numeric / count(*), 4) AS error_rate,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY d) AS p50_ms,
       percentile_cont(0.90) WITHIN GROUP (ORDER BY d) AS p90_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99_ms,
       max(d)                                     AS max_ms
FROM (
  SELECT tenant_id, tool_name, tool_type, status,
         coalesce(duration_ms, extract(epoch FROM ended_at - started_at) * 1000) AS d
  FROM tool_calls c WHERE status <> 'started'
    -- Calls of expired sessions are gone at once, before the reaper deletes them (docs/architecture.md#retention).
    AND NOT EXISTS (SELECT 1 FROM queries q JOIN sessions s ON s.tenant_id = q.tenant_id AND s.session_id = q.session_id
                    WHERE q.tenant_id = c.tenant_id AND q.query_key = c.query_key AND s.expires_at <= now())
) t
GROUP BY tenant_id, tool_name, tool_type;
