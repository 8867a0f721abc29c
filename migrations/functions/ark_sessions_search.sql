-- GET /v2/sessions?search=: session id, or a query's name, agent or target (through the trigram
-- indexes of 0060).
--
-- ILIKE is not leakproof, so under row-level security PostgreSQL must apply the tenant policy before
-- it and cannot search through the trigram indexes. The search therefore runs as the tables' owner,
-- whom RLS does not bind, and enforces the policy's rule itself: it answers only for a tenant in the
-- caller's `ark.tenant_ids`, and only with session ids (the caller reads the sessions themselves
-- under RLS, and a reader's owner filter). It selects candidates with the indexed expression and then
-- checks each column on its own, so the result is exactly "any column contains the text". It is
-- planned for its own pattern (EXECUTE … USING makes a one-shot plan that sees the values): planned
-- generically, with the pattern unknown, PostgreSQL preferred scanning every query of the tenant to
-- the trigram index.
CREATE OR REPLACE FUNCTION ark_sessions_search(tenant text, pattern text) RETURNS SETOF text
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

REVOKE ALL ON FUNCTION ark_sessions_search(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_sessions_search(text, text) TO ark_broker_app;
