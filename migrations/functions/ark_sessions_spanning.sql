-- The sessions whose activity span contains `at` (the session list's `to` filter), through the gist
-- index sessions_activity_span (0071). Range containment is not leakproof, so under row-level security
-- the index cannot serve the broker's role (as with the searches): an owner-rights function answers
-- for a tenant in the caller's `ark.tenant_ids` only, and only with session ids, which the caller
-- then reads under RLS.
CREATE OR REPLACE FUNCTION ark_sessions_spanning(tenant text, at timestamptz) RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT (tenant = ANY (ark_tenant_ids())) THEN RETURN; END IF;
  RETURN QUERY
    SELECT m.session_id FROM sessions m
    WHERE tstzrange(least(m.first_activity_at, m.last_activity_at), greatest(m.first_activity_at, m.last_activity_at), '[]') @> at
      AND m.tenant_id = tenant;
END
$$;

REVOKE ALL ON FUNCTION ark_sessions_spanning(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_sessions_spanning(text, timestamptz) TO ark_broker_app;
