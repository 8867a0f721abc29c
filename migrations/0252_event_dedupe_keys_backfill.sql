-- The dedupe keys stored before 0251 (whose trigger copies every newer one) into `event_dedupe_keys`.
-- One transaction that reads `events` and writes only the new table: appends go on meanwhile (on a
-- 10M-event log this takes minutes; before, the copy ran under 0253's exclusive lock and held every
-- append that long). A key the trigger copied first is skipped.
INSERT INTO event_dedupe_keys (tenant_id, session_id, dedupe_key, sequence, recorded_at, expires_at)
SELECT tenant_id, session_id, dedupe_key, sequence, recorded_at, expires_at FROM events WHERE dedupe_key IS NOT NULL
ON CONFLICT DO NOTHING;
