-- SQL analytics over the read models of 0009 (docs/read-models.md has example queries). A plain view:
-- always current, no refresh; filter it by tenant_id (and a day range) like any table. It runs with
-- the rights of whoever queries it (security_invoker), so row-level security (0030) applies through
-- it as it does to the tables: the broker's role sees only the tenants in `ark.tenant_ids`. Analysts
-- read its copy over the analyst_* views, views/analyst_sessions_per_day.sql: keep the two alike.
--
-- Sessions and queries per UTC day and namespace (a session with queries in two namespaces counts in both).
CREATE OR REPLACE VIEW analytics_sessions_per_day WITH (security_invoker = true) AS
SELECT tenant_id,
       (started_at AT TIME ZONE 'UTC')::date AS day,
       namespace,
       count(DISTINCT session_id)            AS sessions,
       count(*)                              AS queries,
       count(*) FILTER (WHERE phase = 'error') AS failed_queries
FROM queries
-- Queries of expired sessions are gone at once, before the reaper deletes them (docs/architecture.md#retention).
WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = queries.tenant_id AND s.session_id = queries.session_id AND s.expires_at <= now())
GROUP BY tenant_id, (started_at AT TIME ZONE 'UTC')::date, namespace;
