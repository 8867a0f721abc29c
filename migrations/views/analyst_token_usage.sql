-- `analytics_token_usage` for the read-only analyst role (0150): the same aggregation (keep the two
-- alike), over the analyst_* views, so it holds only the tenants analyst_allowed_tenants names for the
-- querying role. Owner's rights (analysts have no table privileges; analytics_token_usage runs with the
-- caller's), and a security barrier like the other analyst_* views.
CREATE OR REPLACE VIEW analyst_token_usage WITH (security_barrier = true) AS
SELECT l.tenant_id,
       (coalesce(l.started_at, l.ended_at) AT TIME ZONE 'UTC')::date AS day,
       coalesce(q.agent, q.target_name)                               AS agent,
       l.model,
       count(*)                                                       AS llm_calls,
       coalesce(sum(l.tokens_input), 0)                               AS tokens_input,
       coalesce(sum(l.tokens_output), 0)                              AS tokens_output,
       coalesce(sum(coalesce(l.tokens_total, l.tokens_input + l.tokens_output)), 0) AS tokens_total,
       avg(l.duration_ms)                                             AS avg_duration_ms,
       avg(extract(epoch FROM l.first_chunk_at - l.started_at) * 1000) AS avg_time_to_first_token_ms
FROM analyst_llm_calls l
LEFT JOIN analyst_queries q ON q.tenant_id = l.tenant_id AND q.query_key = l.query_key
-- Calls of expired sessions are gone at once, before the reaper deletes them (docs/architecture.md#retention).
WHERE NOT EXISTS (SELECT 1 FROM analyst_sessions s WHERE s.tenant_id = q.tenant_id AND s.session_id = q.session_id AND s.expires_at <= now())
GROUP BY l.tenant_id, (coalesce(l.started_at, l.ended_at) AT TIME ZONE 'UTC')::date, coalesce(q.agent, q.target_name), l.model;
REVOKE ALL ON analyst_token_usage FROM PUBLIC, ark_broker_app;
GRANT SELECT ON analyst_token_usage TO ark_analyst;
