-- Row-level security as a boundary (docs/architecture.md#tenancy, README "Analysts").
--
-- 1. The broker's role reads no API key: `api_keys` is the operator's (the CLI, as the tables' owner),
--    and the broker verifies a presented key through ark_api_key(id, secret hash)
--    (functions/ark_api_key.sql), which answers only when the caller knows the key's secret.
REVOKE ALL ON api_keys FROM ark_broker_app;
DROP FUNCTION IF EXISTS ark_api_key(text);

-- 2. Nobody but the owner creates objects in `public` (PostgreSQL 15's default; older databases
--    granted it to everyone): a role that could would shadow the functions the broker calls.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- 3. The read-only analyst role: SELECT on the analyst_* views (views/analyst_*.sql) and nothing
--    else. Those views run with their owner's rights and show the rows of the tenants that
--    `analyst_tenants` maps to the querying role (or a role it is a member of); the operator fills
--    it (`ark-broker analysts grant`), analysts cannot read or change it. Setting `ark.tenant_ids`
--    changes nothing for them: they reach no table whose policy reads it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ark_analyst') THEN
    BEGIN
      CREATE ROLE ark_analyst NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
END $$;

CREATE TABLE analyst_tenants (
  role_name  text        NOT NULL,
  tenant_id  text        NOT NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (role_name, tenant_id)
);
-- The default privileges of 0030 gave the broker's role this table: it is none of its business.
REVOKE ALL ON analyst_tenants FROM ark_broker_app;
-- Every tenant table has the tenant policy (0030, 0050); only the owner reads this one anyway.
ALTER TABLE analyst_tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON analyst_tenants USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));
CREATE STATISTICS analyst_tenants_tenant_policy ON ((tenant_id || '')) FROM analyst_tenants;
