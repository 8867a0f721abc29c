-- Part of the reaper (functions/ark_reap_expired_events.sql says how it works).
--
-- Expired dedupe keys (event_dedupe_keys, 0251). A key goes with its event when the row reaper
-- deletes that (ark_reap_expired_events); this sweeps the keys of events that went with a dropped
-- partition (ark_drop_event_partition), whose every row had expired.
CREATE OR REPLACE FUNCTION ark_reap_expired_dedupe_keys(batch_size int) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  deleted int;
BEGIN
  WITH gone AS (
    DELETE FROM event_dedupe_keys k
    WHERE k.ctid = ANY (ARRAY(SELECT x.ctid FROM event_dedupe_keys x WHERE x.expires_at <= now() LIMIT batch_size FOR UPDATE SKIP LOCKED))
      AND k.expires_at <= now()
    RETURNING 1
  )
  SELECT count(*) INTO deleted FROM gone;
  RETURN deleted;
END
$$;

REVOKE ALL ON FUNCTION ark_reap_expired_dedupe_keys(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_reap_expired_dedupe_keys(int) TO ark_broker_app;
