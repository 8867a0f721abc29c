-- Upstream 0.1.69's per-query watermarks on the upstream session entries (ark PRs #3004, #3209):
--   last_sequence   the session sequence of the last event that counted as the query's activity (an
--                   operation event or a POST /sessions body; never a message). It elects the
--                   session's status (the query touched last), and an event at or below it is a
--                   replay or arrived out of order: it may fill empty fields, nothing else.
--   phase_sequence  the sequence of the last terminal event (done, error, canceled) that decided
--                   the phase: only a newer terminal event can change it.
ALTER TABLE session_queries
  ADD COLUMN last_sequence  bigint NOT NULL DEFAULT 0,
  ADD COLUMN phase_sequence bigint NOT NULL DEFAULT 0;

-- Rows written before: the latest event of the query in the log (any value at or below the true
-- watermarks behaves the same, since every later event has a higher sequence).
UPDATE session_queries q SET last_sequence = coalesce((
  SELECT max(e.sequence) FROM events e
  WHERE e.tenant_id = q.tenant_id AND e.session_id = q.session_id
    AND ((e.source = 'operation-event' AND e.query_name = q.query_name)
      OR (e.type = 'session.signalled' AND e.data ->> 'queryName' = q.query_name))
), q.first_sequence);
UPDATE session_queries SET phase_sequence = last_sequence WHERE phase IN ('done', 'error', 'canceled');
