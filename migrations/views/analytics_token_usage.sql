-- SQL analytics over the read models of 0009 (docs/read-models.md has example queries). A plain view:
-- always current, no refresh; filter it by tenant_id (and a day range) like any table. It runs with
-- the rights of whoever queries it (security_invoker), so row-level security (0030) applies through
-- it as it does to the tables: the broker's role sees only the tenants in `ark.tenant_ids`. Analysts
-- read its copy over the analyst_* views, views/analyst_token_usage.sql: keep the two alike.
--
-- LLM calls and token use per UTC day, agent and model. The agent is the query's agent (else its target).
CREATE OR REPLACE VIEW analytics_token_usage WITH (security_invoker = true) AS
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
FROM llm_calls l
LEFT JOIN queries q ON q.tenant_id = l.tenant_id AND q.query_key = l.query_key
-- Calls of expired sessions are gone at once, before the reaper deletes them (docs/architecture.md#retention).
WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = q.tenant_id AND s.session_id = q.session_id AND s.expires_at <= now())
GROUP BY l.tenant_id, (coalesce(l.started_at, l.ended_at) AT TIME ZONE 'UTC')::date, coalesce(q.agent, q.target_name), l.model;
