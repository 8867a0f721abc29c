-- A presented API key `ark_<id>_<secret>` is verified before its tenant is known, so the broker's
-- role, which may not read `api_keys` (0150), asks this function, which runs as the tables' owner:
-- it answers the key's tenant, roles and namespaces only when `secret_hash` (the hex SHA-256 of the
-- key's secret, which only its holder can compute: the stored hashes are unreadable to the caller)
-- matches a live key of that id. Never the hash, never another key.
CREATE OR REPLACE FUNCTION ark_api_key(key_id text, secret_hash text)
  RETURNS TABLE (id text, tenant_id text, roles text[], namespaces text[])
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
  $$ SELECT k.id, k.tenant_id, k.roles, k.namespaces FROM api_keys k
     WHERE k.id = key_id AND k.secret_hash = ark_api_key.secret_hash AND k.revoked_at IS NULL $$;
REVOKE ALL ON FUNCTION ark_api_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_api_key(text, text) TO ark_broker_app;
