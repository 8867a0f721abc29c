-- The tenants of the current transaction (row-level security, 0030): `ark.tenant_ids`, a text[]
-- literal each transaction sets with set_config(..., true); none without the setting. A STABLE SQL
-- function is inlined into the policies, so the tenant check is evaluated once per scan.
CREATE OR REPLACE FUNCTION ark_tenant_ids() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT coalesce(nullif(current_setting('ark.tenant_ids', true), ''), '{}')::text[] $$;
