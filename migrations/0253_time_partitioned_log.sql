-- `events` partitioned by recorded_at (docs/architecture.md#time-partitioned-log), so the reaper
-- can drop a day whose rows all expired instead of deleting them row by row. No row is rewritten:
-- the table as it is becomes the first partition, `events_legacy`, holding everything recorded
-- before this migration ran, and it goes like any other partition once its rows have expired.
--
-- 1. Dedupe keys are in their own table since 0251/0252: the trigger that kept it filled goes.
-- 2. The old table is renamed, keeps its indexes (renamed events_legacy_*), swaps in the unique keys
--    with recorded_at that 0250 built, and gets CHECK (recorded_at < <now>) validated (NOT VALID,
--    then VALIDATE: a read, no rewrite), so ATTACH PARTITION need not scan it again.
-- 3. The new `events` has the same columns, the same global_position sequence (its position goes
--    on), every index of the old one (so the old table's indexes attach instead of being built), the
--    tenant policy, grants and statistics; a DEFAULT partition that must stay empty (an alarm that
--    `ark-broker retention status` reports), and the partition from now to the next midnight.
--
-- Views over `events` are bound to the table, not its name: each one that followed the rename to
-- `events_legacy` is defined again over the new `events`, with its options (its grants stay).
-- requires: functions/ark_event_partitions.sql
-- requires: functions/ark_create_event_partitions.sql

LOCK TABLE events IN ACCESS EXCLUSIVE MODE;

DROP TRIGGER events_copy_dedupe_key ON events;
DROP FUNCTION ark_copy_dedupe_key();

-- Samples of when transaction ids were handed out: an xid assigned after `xid` was assigned after
-- `at` (`at` is the sampling transaction's start, which precedes its own xid). A feed cursor names
-- only a transaction id; the latest sample at or below it bounds when the events past it were
-- recorded (EventLogRepository.readFeed). ark_create_event_partitions adds one each pass.
CREATE TABLE event_xid_clock (
  xid xid8        PRIMARY KEY,
  at  timestamptz NOT NULL
);
GRANT SELECT ON event_xid_clock TO ark_broker_app;

DO $$
DECLARE
  boundary timestamptz := clock_timestamp();  -- after the lock: every committed row was recorded before it
  position_last bigint;
  position_called boolean;
  ix record;
BEGIN
  SELECT last_value, is_called INTO position_last, position_called FROM events_global_position_seq;

  ALTER TABLE events RENAME TO events_legacy;
  ALTER TABLE events_legacy ALTER COLUMN global_position DROP IDENTITY;  -- drops events_global_position_seq
  ALTER TABLE events_legacy DROP CONSTRAINT events_pkey;
  DROP INDEX events_dedupe_key;
  DROP INDEX events_tenant_global_position;
  ALTER TABLE events_legacy ADD CONSTRAINT events_legacy_pkey PRIMARY KEY USING INDEX events_session_sequence_recorded;
  ALTER INDEX events_tenant_position_recorded RENAME TO events_legacy_tenant_global_position;
  FOR ix IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = 'events_legacy'::regclass AND c.relname LIKE 'events\_%' AND c.relname NOT LIKE 'events\_legacy\_%'
  LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', ix.relname, 'events_legacy_' || substr(ix.relname, length('events_') + 1));
  END LOOP;
  ALTER STATISTICS events_tenant_policy RENAME TO events_legacy_tenant_policy;
  EXECUTE format('ALTER TABLE events_legacy ADD CONSTRAINT events_legacy_bound CHECK (recorded_at < %L) NOT VALID', boundary);
  ALTER TABLE events_legacy VALIDATE CONSTRAINT events_legacy_bound;

  CREATE TABLE events (
    tenant_id       text        NOT NULL,
    session_id      text        NOT NULL,
    sequence        bigint      NOT NULL CONSTRAINT events_sequence_check CHECK (sequence > 0),
    global_position bigint      GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    type            text        NOT NULL,
    time            timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    query_id        text,
    query_name      text,
    namespace       text,
    user_id         text,
    trace_id        text,
    span_id         text,
    parent_span_id  text,
    source          text        NOT NULL
      CONSTRAINT events_source_check CHECK (source IN ('otlp', 'operation-event', 'chunk', 'message', 'api')),
    dedupe_key      text,
    data            jsonb       NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (tenant_id, session_id, sequence, recorded_at)
  ) PARTITION BY RANGE (recorded_at);
  PERFORM setval('events_global_position_seq', position_last, position_called);
  CREATE UNIQUE INDEX events_tenant_global_position ON events (tenant_id, global_position, recorded_at);
  -- Every other index as the old table has it (renamed back), so that those attach as they are.
  FOR ix IN SELECT pg_get_indexdef(i.indexrelid) AS def, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = 'events_legacy'::regclass AND c.relname NOT IN ('events_legacy_pkey', 'events_legacy_tenant_global_position')
  LOOP
    EXECUTE replace(replace(ix.def, 'INDEX ' || ix.relname || ' ON public.events_legacy ', 'INDEX ' || 'events_' || substr(ix.relname, length('events_legacy_') + 1) || ' ON public.events '),
                    'INDEX ' || ix.relname || ' ON events_legacy ', 'INDEX ' || 'events_' || substr(ix.relname, length('events_legacy_') + 1) || ' ON events ');
  END LOOP;
  ALTER TABLE events ENABLE ROW LEVEL SECURITY;
  CREATE POLICY tenant_isolation ON events USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));
  CREATE STATISTICS events_tenant_policy ON (tenant_id || '') FROM events;
  GRANT SELECT, INSERT, UPDATE, DELETE ON events TO ark_broker_app;
  GRANT SELECT, UPDATE, USAGE ON SEQUENCE events_global_position_seq TO ark_broker_app;
  REVOKE ALL ON events_legacy FROM ark_broker_app;

  EXECUTE format('ALTER TABLE events ATTACH PARTITION events_legacy FOR VALUES FROM (MINVALUE) TO (%L)', boundary);
  ALTER TABLE events_legacy DROP CONSTRAINT events_legacy_bound;  -- the partition bound says it now

  FOR ix IN SELECT DISTINCT v.oid::regclass AS view, pg_get_viewdef(v.oid) AS def, coalesce(array_to_string(v.reloptions, ', '), '') AS options
            FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
            WHERE d.refobjid = 'events_legacy'::regclass AND v.relkind = 'v'
  LOOP
    EXECUTE format('CREATE OR REPLACE VIEW %s %s AS %s', ix.view, CASE WHEN ix.options = '' THEN '' ELSE 'WITH (' || ix.options || ')' END,
                   regexp_replace(ix.def, '\mevents_legacy\M', 'events', 'g'));
  END LOOP;

  CREATE TABLE events_default PARTITION OF events DEFAULT;
  ALTER TABLE events_default ENABLE ROW LEVEL SECURITY;
  CREATE POLICY tenant_isolation ON events_default USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));
  CREATE STATISTICS events_default_tenant_policy ON (tenant_id || '') FROM events_default;
  REVOKE ALL ON events_default FROM ark_broker_app;
END $$;

-- The partition holding now, to the next midnight; the broker makes the next ones at start-up (PARTITION_WIDTH_DAYS).
SELECT ark_create_event_partitions(interval '1 day', 0, true);
