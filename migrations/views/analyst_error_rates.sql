-- requires: views/analyst_queries.sql
-- requires: views/analyst_sessions.sql
-- `analytics_error_rates` for the read-only analyst role (0150): the same aggregation (keep the two
-- alike), over the analyst_* views, so it holds only the tenants analyst_allowed_tenants names for the
-- querying role. Owner's rights (analysts have no table privileges; analytics_error_rates runs with the
-- caller's), and a security barrier like the other analyst_* views.
CREATE OR REPLACE VIEW analyst_error_rates WITH (security_barrier = true) AS
SELECT tenant_id,
       (started_at AT TIME ZONE 'UTC')::date AS day,
       namespace,
       coalesce(target_name, agent)           AS target,
       count(*)                                                   AS queries,
       count(*) FILTER (WHERE phase IN ('done', 'error', 'canceled')) AS finished,
       count(*) FILTER (WHERE phase = 'error')                    AS failed,
       count(*) FILTER (WHERE phase = 'canceled')                 AS canceled,
       count(*) FILTER (WHERE error_at IS NOT NULL)               AS with_error_signal,
       round(count(*) FILTER (WHERE phase = 'error')::numeric
             / nullif(count(*) FILTER (WHERE phase IN ('done', 'error', 'canceled')), 0), 4) AS error_rate
FROM analyst_queries queries
-- Queries of expired sessions are gone at once, before the reaper deletes them (docs/architecture.md#retention).
WHERE NOT EXISTS (SELECT 1 FROM analyst_sessions s WHERE s.tenant_id = queries.tenant_id AND s.session_id = queries.session_id AND s.expires_at <= now())
GROUP BY tenant_id, (started_at AT TIME ZONE 'UTC')::date, namespace, coalesce(target_name, agent);
REVOKE ALL ON analyst_error_rates FROM PUBLIC, ark_broker_app;
GRANT SELECT ON analyst_error_rates TO ark_analyst;
