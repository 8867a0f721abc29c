-- Trigram indexes for the session searches (`search=` on GET /v2/sessions and upstream GET /sessions),
-- which match a substring anywhere (ILIKE '%text%') and so could use no b-tree: at 10M events a search
-- walked the tenant's sessions by recency and probed each one's queries (p99 0.7–1.1 s).
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension since PostgreSQL 13, so the
-- migrating role needs only CREATE on the database, as on managed services.
--
-- One index per table over the searched columns joined by a newline: the search selects candidates
-- with the same expression and then checks each column on its own, so the result is exactly "any
-- column contains the text" (a match across the separator is discarded).
--
-- The searches themselves are owner-rights functions (functions/ark_sessions_search.sql and
-- functions/ark_upstream_sessions_search.sql): ILIKE is not leakproof, so under row-level security
-- PostgreSQL could not search through these indexes.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX sessions_search ON sessions USING gin (session_id gin_trgm_ops);

CREATE INDEX queries_search ON queries USING gin
  ((coalesce(query_name, '') || E'\n' || coalesce(agent, '') || E'\n' || coalesce(target_name, '')) gin_trgm_ops);

CREATE INDEX session_queries_search ON session_queries USING gin
  ((coalesce(agent, '') || E'\n' || coalesce(team, '') || E'\n' || coalesce(tool, '')) gin_trgm_ops);
