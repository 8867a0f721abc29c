-- Retention (docs/architecture.md#retention): upstream's visibility TTLs and the reaper.
--
-- events.expires_at      when the event stops being visible: recorded_at + its TTL (the request's
--                        `ttl_seconds`, else MESSAGE_ or EVENT_VISIBILITY_TTL_SECONDS; ark_append_events
--                        sets it). Every read of the log skips expired rows; the reaper deletes them.
-- sessions.expires_at    when the session stops being visible: SESSIONS_VISIBILITY_TTL_SECONDS after its
--                        last event, and never before any of its events (SessionsProjector). The
--                        reaper deletes an expired session with everything read from it.
-- messages.expires_at    the message event's expires_at (was: null unless `ttl_seconds` was posted).
--
-- Rows recorded before this migration get upstream's default, 30 days after they were recorded
-- (a message posted with `ttl_seconds` keeps it). This rewrites `events` once.

ALTER TABLE events ADD COLUMN expires_at timestamptz;
UPDATE events SET expires_at = recorded_at + CASE
  WHEN source = 'message' AND jsonb_typeof(data -> 'ttlSeconds') = 'number' THEN make_interval(secs => (data ->> 'ttlSeconds')::double precision)
  ELSE interval '30 days' END;
ALTER TABLE events ALTER COLUMN expires_at SET NOT NULL;
-- BRIN: expiry follows the order rows are appended in (a constant TTL per source), so a few bytes
-- per block range find the expired rows without a b-tree insert on every append.
CREATE INDEX events_expiry ON events USING brin (expires_at) WITH (autosummarize = on);

UPDATE messages m SET expires_at = e.expires_at
FROM events e
WHERE e.tenant_id = m.tenant_id AND e.global_position = m.global_position;
UPDATE messages SET expires_at = recorded_at + interval '30 days' WHERE expires_at IS NULL;
ALTER TABLE messages ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX messages_expiry ON messages (expires_at);

-- Default: a row written by other means than SessionsProjector never expires.
ALTER TABLE sessions ADD COLUMN expires_at timestamptz NOT NULL DEFAULT 'infinity';
UPDATE sessions s SET expires_at = coalesce(
  (SELECT max(e.expires_at) FROM events e WHERE e.tenant_id = s.tenant_id AND e.session_id = s.session_id),
  s.last_activity_at + interval '30 days');
CREATE INDEX sessions_expiry ON sessions (expires_at);
