-- Part of the reaper (functions/ark_reap_expired_events.sql says how it works).
--
-- Expired compacted chunk runs (llm_completions, docs/architecture.md#compaction): a row expires with
-- the latest of the chunks it folded.
CREATE OR REPLACE FUNCTION ark_reap_expired_completions(batch_size int) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE deleted int;
BEGIN
  DELETE FROM llm_completions c
  WHERE c.ctid = ANY (ARRAY(SELECT x.ctid FROM llm_completions x WHERE x.expires_at <= now() LIMIT batch_size FOR UPDATE SKIP LOCKED))
    AND c.expires_at <= now();
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted;
END
$$;

REVOKE ALL ON FUNCTION ark_reap_expired_completions(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_reap_expired_completions(int) TO ark_broker_app;
