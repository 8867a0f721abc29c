-- no-transaction
-- Built concurrently: appends go on while the log is indexed.
-- Custom topics (GET /v2/streams/:name): one type's part of the gap-free feed, read in feed order.
-- Partial, so no other event pays an insertion into it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_custom_topic ON events (tenant_id, type, transaction_id, global_position)
  WHERE type LIKE 'custom.%';
-- A2A tasks of a session (the session aggregate): its a2a.task.* events in log order.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_a2a_tasks ON events (tenant_id, session_id, global_position)
  WHERE type LIKE 'a2a.task.%';
