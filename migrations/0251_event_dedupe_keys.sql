-- Dedupe keys get their own unpartitioned table (docs/architecture.md#time-partitioned-log): once
-- `events` is partitioned by recorded_at (0253), a unique index on it must hold the partition key,
-- so `events_dedupe_key` could no longer see a key stored in another partition. ark_append_events
-- probes and writes `event_dedupe_keys` under the session lock it already holds.
--
-- Filled without holding appends back: from here until 0253 a trigger copies the key of every new
-- event, and 0252 copies the keys stored before, in its own transaction that only reads `events`.
-- This migration takes the table's lock only to add the trigger.
CREATE TABLE event_dedupe_keys (
  tenant_id   text        NOT NULL,
  session_id  text        NOT NULL,
  dedupe_key  text        NOT NULL,
  -- The event's sequence (what a duplicate answers) and recorded_at (which partition holds it).
  sequence    bigint      NOT NULL,
  recorded_at timestamptz NOT NULL,
  -- The event's expires_at when it was appended: a key whose event went with a dropped partition is swept after it.
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, session_id, dedupe_key)
);
CREATE INDEX event_dedupe_keys_expiry ON event_dedupe_keys USING brin (expires_at) WITH (autosummarize = on);
ALTER TABLE event_dedupe_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_dedupe_keys USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));
CREATE STATISTICS event_dedupe_keys_tenant_policy ON (tenant_id || '') FROM event_dedupe_keys;
GRANT SELECT, INSERT, DELETE ON event_dedupe_keys TO ark_broker_app;

-- Until 0253 drops it. SECURITY DEFINER: the appending role only inserts into events.
CREATE FUNCTION ark_copy_dedupe_key() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO event_dedupe_keys (tenant_id, session_id, dedupe_key, sequence, recorded_at, expires_at)
  VALUES (NEW.tenant_id, NEW.session_id, NEW.dedupe_key, NEW.sequence, NEW.recorded_at, NEW.expires_at)
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER events_copy_dedupe_key AFTER INSERT ON events FOR EACH ROW WHEN (NEW.dedupe_key IS NOT NULL) EXECUTE FUNCTION ark_copy_dedupe_key();
