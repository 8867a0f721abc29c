-- The session list's `to` filter ("activity overlaps [from, to]", newest activity first) is answered
-- in two parts: sessions whose last activity falls within [from, to] (a range of sessions_recent),
-- and the few still active after `to` that started at or before it, i.e. whose activity span
-- contains `to`. Without an index for the second part the list walked every session active since
-- `to` to find them (10–20 ms at 10M events for a day two weeks back).
--
-- least/greatest keep the range valid for any row, so the index can never fail an append.
CREATE INDEX sessions_activity_span ON sessions USING gist (
  tstzrange(least(first_activity_at, last_activity_at), greatest(first_activity_at, last_activity_at), '[]'));

-- Range containment is not leakproof, so under row-level security the index cannot serve the
-- broker's role: the owner-rights function ark_sessions_spanning (functions/ark_sessions_spanning.sql)
-- reads it.
