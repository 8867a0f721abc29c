-- Part of the reaper (functions/ark_reap_expired_events.sql says how it works).
--
-- Expired rows of the messages read model (their events expire at the same moment).
CREATE OR REPLACE FUNCTION ark_reap_expired_messages(batch_size int) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE deleted int;
BEGIN
  DELETE FROM messages m
  WHERE m.ctid = ANY (ARRAY(SELECT x.ctid FROM messages x WHERE x.expires_at <= now() LIMIT batch_size FOR UPDATE SKIP LOCKED))
    AND m.expires_at <= now();
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted;
END
$$;

REVOKE ALL ON FUNCTION ark_reap_expired_messages(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_reap_expired_messages(int) TO ark_broker_app;
