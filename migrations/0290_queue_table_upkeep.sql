-- Upkeep of the executors' queue tables, which churn: every claim and report rewrites a
-- query_executions row and writes a query_transitions row, then marks it published.
--
-- Vacuums clean their indexes every time (vacuum_index_cleanup = on). A claimed query's entry stays
-- in the partial claim index (phase = 'pending') until a vacuum removes it, and every claim steps
-- over those of its namespace before the first pending query (about 0.1 ms per thousand). Claims
-- take the oldest first, so the dead rows sit in few pages, and VACUUM's default skips the index
-- pass when under 2 % of the table's pages hold dead rows: it left them all. Autovacuum comes after
-- 2 % of the rows changed (plus 1,000) instead of 20 %.
--
-- No statistics on their JSON columns: no statement filters on them, and computing them was half of
-- an ANALYZE of each (query_executions 590-795 -> 250-345 ms on a bench database).
ALTER TABLE query_executions SET (vacuum_index_cleanup = on, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);
ALTER TABLE query_executions
  ALTER COLUMN target SET STATISTICS 0,
  ALTER COLUMN input SET STATISTICS 0,
  ALTER COLUMN request SET STATISTICS 0,
  ALTER COLUMN response SET STATISTICS 0,
  ALTER COLUMN error SET STATISTICS 0;
ALTER TABLE query_transitions SET (vacuum_index_cleanup = on, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);
ALTER TABLE query_transitions ALTER COLUMN data SET STATISTICS 0;
