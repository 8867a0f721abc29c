-- Upstream GET /sessions?search=: session id, or a query's agent, team or tool (upstream's fields).
-- Owner's rights and the tenant rule as functions/ark_sessions_search.sql explains.
CREATE OR REPLACE FUNCTION ark_upstream_sessions_search(tenant text, pattern text) RETURNS SETOF text
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

REVOKE ALL ON FUNCTION ark_upstream_sessions_search(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_upstream_sessions_search(text, text) TO ark_broker_app;
