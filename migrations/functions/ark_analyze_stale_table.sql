-- Planner statistics kept by the broker (docs/architecture.md#planner-statistics): ANALYZEs the
-- broker's table whose rows changed the most since its last ANALYZE (or since it was created),
-- if that is at least `min_changes` rows and `changed_share` of its live rows, and answers its name;
-- NULL when none is due or another replica is analyzing. The caller repeats while it gets a name,
-- passing the names it got (`done`): one table per call, so no transaction holds an ANALYZE's lock
-- for long, and none twice in a pass while appends keep changing it.
--
-- Why: a table never analyzed is planned with default selectivities (one tenant's rows: 0.5 % of
-- the table), so a top-N read of a grown table became a scan and a sort. Autovacuum does this only
-- after its naptime and thresholds, and not at all where it is off. Plans cached by the pooled
-- connections (prepared statements, PL/pgSQL) are invalidated by the ANALYZE and made again.
-- An empty table is never analyzed: statistics of 0 rows would make the planner trust that it is
-- tiny (without any it assumes 10 pages).
--
-- SECURITY DEFINER: ANALYZE needs the tables' owner; the function takes no name, only thresholds.
CREATE OR REPLACE FUNCTION ark_analyze_stale_table(changed_share float8, min_changes bigint, done text[]) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  stale name;
BEGIN
  -- Two int4 keys: a lock space apart from the bigint keys of the appenders' session locks.
  IF NOT pg_try_advisory_xact_lock(4211, 250) THEN RETURN NULL; END IF;
  SELECT s.relname INTO stale
  FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
  WHERE s.schemaname = current_schema() AND c.relowner = current_user::regrole AND c.relkind = 'r'
    AND s.n_mod_since_analyze >= greatest(min_changes, changed_share * s.n_live_tup)
    AND s.relname <> ALL (done)
  ORDER BY s.n_mod_since_analyze::float8 / greatest(s.n_live_tup, 1) DESC
  LIMIT 1;
  IF stale IS NULL THEN RETURN NULL; END IF;
  EXECUTE format('ANALYZE %I', stale);
  RETURN stale;
END
$$;

REVOKE ALL ON FUNCTION ark_analyze_stale_table(float8, bigint, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_analyze_stale_table(float8, bigint, text[]) TO ark_broker_app;
