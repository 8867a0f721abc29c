-- SQL analytics over the read models of 0009 (docs/read-models.md has example queries). Plain views:
-- always current, no refresh; filter them by tenant_id (and a day range) like any table.

-- Sessions and queries per UTC day and namespace (a session with queries in two namespaces counts in both).
CREATE VIEW analytics_sessions_per_day AS
SELECT tenant_id,
       (started_at AT TIME ZONE 'UTC')::date AS day,
       namespace,
       count(DISTINCT session_id)            AS sessions,
       count(*)                              AS queries,
       count(*) FILTER (WHERE phase = 'error') AS failed_queries
FROM queries
GROUP BY tenant_id, (started_at AT TIME ZONE 'UTC')::date, namespace;

-- LLM calls and token use per UTC day, agent and model. The agent is the query's agent (else its target).
CREATE VIEW analytics_token_usage AS
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
GROUP BY l.tenant_id, (coalesce(l.started_at, l.ended_at) AT TIME ZONE 'UTC')::date, coalesce(q.agent, q.target_name), l.model;

-- Finished tool calls: latency percentiles and error rate per tool (all time; filter tool_calls by
-- started_at yourself for a window, see docs/read-models.md).
CREATE VIEW analytics_tool_latency AS
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

-- Query outcomes per UTC day, namespace and target: how many finished, failed, were canceled.
CREATE VIEW analytics_error_rates AS
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
GROUP BY tenant_id, (started_at AT TIME ZONE 'UTC')::date, namespace, coalesce(target_name, agent);
