-- An API key is looked up by its id before its tenant is known: this one function sees every key
-- (it runs as the tables' owner) and answers only the row of the id asked for.
CREATE OR REPLACE FUNCTION ark_api_key(key_id text) RETURNS SETOF api_keys
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
  $$ SELECT * FROM api_keys WHERE id = key_id AND revoked_at IS NULL $$;
REVOKE ALL ON FUNCTION ark_api_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ark_api_key(text) TO ark_broker_app;
