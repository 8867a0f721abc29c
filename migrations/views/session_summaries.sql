-- Every session with its work: the `sessions` row (owner, activity, events, upstream's conversation
-- count) and ark_session_work. What an analyst starts from; caller's rights, as the analytics views.
CREATE OR REPLACE VIEW session_summaries WITH (security_invoker = true) AS
  SELECT s.tenant_id, s.session_id, s.user_id, s.first_activity_at, s.last_activity_at,
         s.event_count, s.conversation_count,
         w.status, w.query_count, w.error_query_count, w.has_errors, w.namespaces,
         w.agents, w.teams, w.models, w.tools, w.tokens_input, w.tokens_output, w.tokens_total
  FROM sessions s CROSS JOIN LATERAL ark_session_work(s.tenant_id, s.session_id) w
  WHERE s.expires_at > now(); -- an expired session is gone at once (docs/architecture.md#retention)
