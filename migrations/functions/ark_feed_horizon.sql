-- The feed horizon (docs/architecture.md#gap-free-feed) as a function, so that its plan is made once per connection.
--
-- Inlined in every feed read, the horizon's subquery over pg_stat_activity (a view of several joins)
-- was planned on every read, once per place the horizon appeared: 2.4 ms of planning for a read that
-- then ran in 0.3 ms, measured with pgbench. Watchers read on every wake-up, so under load most of
-- PostgreSQL's CPU went to planning it. PL/pgSQL keeps the plan of its statement for the connection's life.
--
-- The horizon is the oldest transaction that may still commit rows into this database:
-- pg_snapshot_xmin alone counts every database on the server, so one long transaction anywhere would
-- stall every feed; transactions that pg_stat_activity positively places in another database are
-- left out. That view is read live, not from the snapshot, so anything it cannot place (e.g. it
-- finished meanwhile) is kept in: the horizon errs early, never late.
--
-- STABLE matters: a STABLE function runs under its caller's snapshot, so pg_current_snapshot() is the
-- calling statement's own and the rows that statement reads below the horizon are all visible to it.
-- (A VOLATILE one would take a newer snapshot, whose horizon could pass a transaction that committed
-- after the caller's snapshot was taken: a gap.)
CREATE OR REPLACE FUNCTION ark_feed_horizon() RETURNS xid8
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  RETURN (
    SELECT least(pg_snapshot_xmax(s), (
      SELECT min(x) FROM pg_snapshot_xip(s) AS x
      WHERE NOT EXISTS (
        SELECT 1 FROM pg_stat_activity a
        WHERE a.datname <> current_database() AND a.backend_xid IS NOT NULL
          AND a.backend_xid::text::bigint = x::text::bigint % 4294967296)))
    FROM pg_current_snapshot() AS s);
END
$$;
