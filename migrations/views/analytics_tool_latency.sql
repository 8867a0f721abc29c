-- SQL analytics over the read models of 0009 (docs/read-models.md has example queries). A plain view:
-- always current, no refresh; filter it by tenant_id (and a day range) like any table. It runs with
-- the rights of whoever queries it (security_invoker), so row-level security (0030) applies through
-- it as it does to the tables: the broker's role, or an analyst's role given ark_broker_app, sees only
-- the tenants in `ark.tenant_ids`.
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
  FROM tool_calls WHERE status <> 'started'
) t
GROUP BY tenant_id, tool_name, tool_type;
