-- Plans that stay index probes whatever the statistics say.
--
-- The tenant policy of 0030, `tenant_id = ANY (ark_tenant_ids())`, is a qual the planner can use as
-- an index condition but whose selectivity it cannot know (the array comes from a setting). Added to
-- a query's own `tenant_id = $1`, it made every index that starts with tenant_id look as if it held
-- one row, so without fresh statistics (a new database, autovacuum off, a tenant much larger than
-- the average) plans scanned the whole tenant: the append function's dedupe lookup scanned every
-- stored event of the tenant per row (7 s for a 700-row batch at 47,000 events), the LLM-call
-- first-chunk update every LLM call, and a count of one session's events all 50,000 events of the
-- tenant (33 ms instead of 0.6 ms).
--
-- 1. The policy compares `tenant_id || ''`, which no index matches, against the array computed once
--    per statement (an InitPlan), so it is a cheap filter (about 60 ns a row) and never steers the
--    choice of index; the queries' own tenant conditions do that. What it admits is unchanged.
--    Extended statistics on `tenant_id || ''` let the planner estimate it once tables are analysed.
-- 2. ark_append_events (functions/ark_append_events.sql) looks up dedupe keys and stream heads with
--    correlated subqueries: one unique-index probe per row.

DO $$
DECLARE t regclass;
BEGIN
  FOR t IN
    SELECT p.polrelid::regclass FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE p.polname = 'tenant_isolation' AND n.nspname = 'public'
  LOOP
    EXECUTE format($f$ALTER POLICY tenant_isolation ON %s USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]))$f$, t);
    -- Statistics on the policy's expression (ANALYZE gathers them), so that the planner knows how
    -- many rows the filter keeps: without them it assumed a few percent on every table and chose
    -- different joins (a namespace filter on GET /v2/sessions: 60 ms instead of 2.4).
    EXECUTE format($f$CREATE STATISTICS %s ON ((tenant_id || '')) FROM %s$f$, quote_ident(t::text || '_tenant_policy'), t);
  END LOOP;
END $$;
