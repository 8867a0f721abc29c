-- `analytics_sessions_per_day` for the read-only analyst role (0150): the same aggregation (keep the two
-- alike), over the analyst_* views, so it holds only the tenants analyst_allowed_tenants names for the
-- querying role. Owner's rights (analysts have no table privileges; analytics_sessions_per_day runs with the
-- caller's), and a security barrier like the other analyst_* views.
CREATE OR REPLACE VIEW analyst_sessions_per_day WITH (security_barrier = true) AS
SELECT tenant_id,
       (started_at AT TIME ZONE 'UTC')::date AS day,
       namespace,
       count(DISTINCT session_id)            AS sessions,
       count(*)                              AS queries,
       count(*) FILTER (WHERE phase = 'error') AS failed_queries
FROM analyst_queries queries
-- Queries of expired sessions are gone at once, before the reaper deletes them (docs/architecture.md#retention).
WHERE NOT EXISTS (SELECT 1 FROM analyst_sessions s WHERE s.tenant_id = queries.tenant_id AND s.session_id = queries.session_id AND s.expires_at <= now())
GROUP BY tenant_id, (started_at AT TIME ZONE 'UTC')::date, namespace;
REVOKE ALL ON analyst_sessions_per_day FROM PUBLIC, ark_broker_app;
GRANT SELECT ON analyst_sessions_per_day TO ark_analyst;
