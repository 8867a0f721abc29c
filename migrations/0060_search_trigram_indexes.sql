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
-- ILIKE is not leakproof, so under row-level security PostgreSQL must apply the tenant policy before
-- it and cannot search through these indexes: as the broker's role every search scanned the
-- tenant's sessions (48 ms at 10,000 sessions). The searches are therefore functions that run as the
-- tables' owner, whom RLS does not bind, and enforce the policy's rule themselves: they answer only
-- for a tenant in the caller's `ark.tenant_ids`, and only with session ids (the caller reads the
-- sessions themselves under RLS, and a reader's owner filter). Each search is planned for its own
-- pattern (EXECUTE … USING makes a one-shot plan that sees the values): planned generically, with
-- the pattern unknown, PostgreSQL preferred scanning every query of the tenant to the trigram index
-- (40,000 rows filtered for 111: 30–50 ms instead of 7). The choice needs statistics (autovacuum's
-- ANALYZE): on a never-analysed table PostgreSQL prices a GIN scan above a scan of the table.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX sessions_search ON sessions USING gin (session_id gin_trgm_ops);

CREATE INDEX queries_search ON queries USING gin
  ((coalesce(query_name, '') || E'\n' || coalesce(agent, '') || E'\n' || coalesce(target_name, '')) gin_trgm_ops);

CREATE INDEX session_queries_search ON session_queries USING gin
  ((coalesce(agent, '') || E'\n' || coalesce(team, '') || E'\n' || coalesce(tool, '')) gin_trgm_ops);

-- GET /v2/sessions?search=: session id, or a query's name, agent or target.
CREATE FUNCTION ark_sessions_search(tenant text, pattern text) RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT (tenant = ANY (ark_tenant_ids())) THEN RETURN; END IF;
  RETURN QUERY EXECUTE $q$
    SELECT m.session_id FROM sessions m WHERE m.tenant_id = $1 AND m.session_id ILIKE $2
    UNION
    SELECT q.session_id FROM queries q
    WHERE q.tenant_id = $1
      AND (coalesce(q.query_name, '') || E'\n' || coalesce(q.agent, '') || E'\n' || coalesce(q.target_name, '')) ILIKE $2
      AND (q.query_name ILIKE $2 OR q.agent ILIKE $2 OR q.target_name ILIKE $2)$q$
  USING tenant, pattern;
END
$$;

-- Upstream GET /sessions?search=: session id, or a query's agent, team or tool (upstream's fields).
CREATE FUNCTION ark_upstream_sessions_search(tenant text, pattern text) RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT (tenant = ANY (ark_tenant_ids())) THEN RETURN; END IF;
  RETURN QUERY EXECUTE $q$
    SELECT m.session_id FROM sessions m WHERE m.tenant_id = $1 AND m.session_id ILIKE $2
    UNION
    SELECT q.session_id FROM session_queries q
    WHERE q.tenant_id = $1
      AND (coalesce(q.agent, '') || E'\n' || coalesce(q.team, '') || E'\n' || coalesce(q.tool, '')) ILIKE $2
      AND (q.agent ILIKE $2 OR q.team ILIKE $2 OR q.tool ILIKE $2)$q$
  USING tenant, pattern;
END
$$;

REVOKE ALL ON FUNCTION ark_sessions_search(text, text), ark_upstream_sessions_search(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_sessions_search(text, text), ark_upstream_sessions_search(text, text) TO ark_broker_app;
