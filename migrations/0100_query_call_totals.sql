-- What each query's calls add up to: token use over its LLM calls (NULL when none reports it) and
-- the distinct, sorted models and tools it called. GET /v2/sessions summarises a session from its
-- queries' rows alone, so its token totals and participants cost no read of the call tables.
ALTER TABLE queries
  ADD COLUMN llm_tokens_input  bigint,
  ADD COLUMN llm_tokens_output bigint,
  ADD COLUMN llm_tokens_total  bigint,
  ADD COLUMN models            text[] NOT NULL DEFAULT '{}',
  ADD COLUMN tools             text[] NOT NULL DEFAULT '{}';

-- The aggregate ark_array_concat (functions/ark_array_concat.sql) merges these lists per session;
-- ark_roll_up_query_calls (functions/ark_roll_up_query_calls.sql) keeps the columns up to date.
-- requires: functions/ark_roll_up_query_calls.sql

-- Existing databases: every query once.
SELECT ark_roll_up_query_calls(array_agg(tenant_id), array_agg(query_key)) FROM queries;
