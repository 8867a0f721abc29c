-- The partitions of `events` (docs/architecture.md#time-partitioned-log) with their bounds, oldest
-- first, the DEFAULT partition last: what the partition manager (ark_create_event_partitions,
-- ark_drop_event_partition) and `ark-broker retention status` work from. Bounds are read back from
-- the catalog (pg_get_expr of the partition bound, printed in UTC); the oldest partition
-- (`events_legacy`, the table from before 0253) starts at '-infinity'.
CREATE OR REPLACE FUNCTION ark_event_partitions()
RETURNS TABLE (name text, lower_bound timestamptz, upper_bound timestamptz, is_default boolean)
LANGUAGE sql STABLE SET search_path = public, pg_temp SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' AS $$
  SELECT c.relname::text,
         CASE WHEN b.expr LIKE '%FROM (MINVALUE)%' THEN '-infinity' ELSE substring(b.expr FROM 'FROM \(''([^'']*)''\)') END::timestamptz,
         substring(b.expr FROM 'TO \(''([^'']*)''\)')::timestamptz,
         b.expr = 'DEFAULT'
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
  WHERE i.inhparent = 'events'::regclass
  ORDER BY 3 NULLS LAST, 1
$$;

REVOKE ALL ON FUNCTION ark_event_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_event_partitions() TO ark_broker_app;
