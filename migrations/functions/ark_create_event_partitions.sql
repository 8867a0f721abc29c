-- The partitions of `events` ahead (docs/architecture.md#time-partitioned-log): the one holding now()
-- and the next `ahead`, each `width` wide (PARTITION_WIDTH_DAYS days in the broker; tests use
-- seconds), aligned to the epoch (a day: UTC midnight; a week: Thursday), named events_pYYYYMMDD
-- (narrower: events_pYYYYMMDD_HHMMSS). Answers how many it created; null when another replica is at
-- it (`wait` false: the reaper's pass, which skips rather than waits; `wait` true: start-up, which
-- must not listen before they exist). Either way it adds a sample to the xid clock (below).
--
-- A partition is created apart and then attached: ATTACH takes SHARE UPDATE EXCLUSIVE on `events`,
-- which appends and reads do not conflict with (CREATE TABLE … PARTITION OF would take ACCESS
-- EXCLUSIVE). A new partition starts where the newest one ends when that is later than its slot's
-- start (the first after 0253 starts at the moment 0253 ran). Each partition gets the tenant policy
-- and its statistics as every tenant table (0030, 0050), and the broker's role loses the privileges
-- the default ones gave it: it reaches rows through `events` only.
--
-- SECURITY DEFINER: only the owner of `events` may attach partitions to it.
CREATE OR REPLACE FUNCTION ark_create_event_partitions(width interval, ahead int, wait boolean) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
  step double precision := extract(epoch FROM width);
  first timestamptz := to_timestamp(floor(extract(epoch FROM now()) / step) * step);
  newest timestamptz;
  lo timestamptz;
  hi timestamptz;
  part text;
  created int := 0;
BEGIN
  -- A sample of the xid clock (event_xid_clock, 0253) each pass, whether or not this replica creates
  -- partitions: now() is this transaction's start, which precedes the xid it is assigned here.
  INSERT INTO event_xid_clock (xid, at) VALUES (pg_current_xact_id(), now()) ON CONFLICT DO NOTHING;
  DELETE FROM event_xid_clock WHERE at < now() - interval '400 days';
  IF wait THEN
    PERFORM pg_advisory_xact_lock(hashtext('ark_partitions'));
  ELSIF NOT pg_try_advisory_xact_lock(hashtext('ark_partitions')) THEN
    RETURN NULL;
  ELSE
    -- A pass never queues appends behind it for long: if a lock is not free soon, the next pass tries again.
    PERFORM set_config('lock_timeout', '2s', true);
  END IF;
  SELECT max(p.upper_bound) INTO newest FROM ark_event_partitions() p WHERE NOT p.is_default;
  FOR k IN 0..ahead LOOP
    lo := first + k * width;
    hi := lo + width;
    CONTINUE WHEN hi <= coalesce(newest, '-infinity');
    part := 'events_p' || to_char(lo, 'YYYYMMDD') || CASE WHEN width < interval '1 day' THEN to_char(lo, '"_"HH24MISS') ELSE '' END;
    lo := greatest(lo, newest);
    EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)', part);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]))$p$, part);
    EXECUTE format($s$CREATE STATISTICS %I ON (tenant_id || '') FROM %I$s$, part || '_tenant_policy', part);
    EXECUTE format('REVOKE ALL ON %I FROM ark_broker_app', part);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    newest := hi;
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;

REVOKE ALL ON FUNCTION ark_create_event_partitions(interval, int, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_create_event_partitions(interval, int, boolean) TO ark_broker_app;
