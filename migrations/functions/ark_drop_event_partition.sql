-- Part of the reaper (docs/architecture.md#time-partitioned-log): drops the oldest partition of
-- `events` that ended at least `min_age` ago and holds no row still visible (`expires_at > now()`,
-- an index scan of its BRIN), and answers its name; null when none is due or another replica is at it.
-- The caller repeats while a name comes back. A partition with an unexpired row (a longer
-- `ttl_seconds`, a tenant's longer retention) is kept; the row reaper deletes its expired rows.
--
-- `min_age` covers appends in flight: a row's recorded_at is its transaction's start, so a
-- transaction that began before a partition's end may still insert into it a moment later.
--
-- DROP TABLE of a partition takes ACCESS EXCLUSIVE on `events` until commit (DETACH … CONCURRENTLY
-- cannot run inside a function, and only the owner may detach); it is one catalog change, and a lock
-- not granted within lock_timeout makes this pass give up and the next try again, so appends never
-- queue behind it for longer. The dedupe keys of its rows are swept by ark_reap_expired_dedupe_keys.
--
-- SECURITY DEFINER: only the owner of `events` may drop its partitions.
CREATE OR REPLACE FUNCTION ark_drop_event_partition(min_age interval) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '2s' AS $$
DECLARE
  p record;
  alive boolean;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('ark_partitions')) THEN RETURN NULL; END IF;
  FOR p IN
    SELECT x.name FROM ark_event_partitions() x WHERE NOT x.is_default AND x.upper_bound <= now() - min_age ORDER BY x.upper_bound
  LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE expires_at > now())', p.name) INTO alive;
    CONTINUE WHEN alive;
    EXECUTE format('DROP TABLE %I', p.name);
    RETURN p.name;
  END LOOP;
  RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ark_drop_event_partition(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_drop_event_partition(interval) TO ark_broker_app;
