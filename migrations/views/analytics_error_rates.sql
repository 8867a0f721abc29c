-- SQL analytics over the read models of 0009 (docs/read-models.md has example queries). A plain view:
-- always current, no refresh; filter it by tenant_id (and a day range) like any table. It runs with
-- the rights of whoever queries it (security_invoker), so row-level security (0030) applies through
-- it as it does to the tables: the broker's role sees only the tenants in `ark.tenant_ids`. Analysts
-- read its copy over the analyst_* views, views/analyst_error_rates.sql: keep the two alike.
--
-- Query outcomes per UTC day, namespace and target: how many finished, failed, were canceled.
CREATE OR REPLACE VIEW analytics_error_rates WITH (security_invoker = true) AS
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
FROM queries
-- Queries of expired sessions are gone at once, before the reaper deletes them (docs/architecture.md#retention).
WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = queries.tenant_id AND s.session_id = queries.session_id AND s.expires_at <= now())
GROUP BY tenant_id, (started_at AT TIME ZONE 'UTC')::date, namespace, coalesce(target_name, agent);
