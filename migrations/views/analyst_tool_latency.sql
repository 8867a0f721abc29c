-- `analytics_tool_latency` for the read-only analyst role (0150): the same aggregation (keep the two
-- alike), over the analyst_* views, so it holds only the tenants analyst_allowed_tenants names for the
-- querying role. Owner's rights (analysts have no table privileges; analytics_tool_latency runs with the
-- caller's), and a security barrier like the other analyst_* views.
CREATE OR REPLACE VIEW analyst_tool_latency WITH (security_barrier = true) AS
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
  FROM analyst_tool_calls c WHERE status <> 'started'
    -- Calls of expired sessions are gone at once, before the reaper deletes them (docs/architecture.md#retention).
    AND NOT EXISTS (SELECT 1 FROM analyst_queries q JOIN analyst_sessions s ON s.tenant_id = q.tenant_id AND s.session_id = q.session_id
                    WHERE q.tenant_id = c.tenant_id AND q.query_key = c.query_key AND s.expires_at <= now())
) t
GROUP BY tenant_id, tool_name, tool_type;
REVOKE ALL ON analyst_tool_latency FROM PUBLIC, ark_broker_app;
GRANT SELECT ON analyst_tool_latency TO ark_analyst;
