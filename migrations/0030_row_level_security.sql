-- Row-level security on every tenant table (docs/architecture.md#tenancy, defence in depth). The broker's pool works as
-- the NOLOGIN role ark_broker_app (it connects with `-c role=ark_broker_app`), which owns nothing, so
-- policies apply to it; the migrating user (the tables' owner) and the CLI are not restricted.
-- Each transaction names the tenants it may touch in `ark.tenant_ids` (a text[] literal, set with
-- set_config(..., true)): a request its caller's tenant, the group-commit writer its batch's
-- tenants. Without the setting no tenant row is visible or writable.

-- Roles are cluster-wide while migrations run per database, possibly at the same moment in many
-- databases (tests): a concurrent CREATE ROLE / GRANT loses with a unique violation, which is fine.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ark_broker_app') THEN
    BEGIN
      CREATE ROLE ark_broker_app NOLOGIN NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  IF NOT pg_has_role(current_user, 'ark_broker_app', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT ark_broker_app TO %I', current_user);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO ark_broker_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ark_broker_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ark_broker_app;
REVOKE ALL ON schema_migrations FROM ark_broker_app;
-- Tables of later migrations (run by the same user) are usable by the broker too; their own
-- migration must enable RLS on them (test/row-level-security.test.ts checks that every tenant table has it).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ark_broker_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ark_broker_app;

-- The policies below name the tenants of the current transaction through ark_tenant_ids().
-- requires: functions/ark_tenant_ids.sql

-- Every table with a tenant_id column, whichever migration created it.
DO $$
DECLARE t regclass;
BEGIN
  FOR t IN
    SELECT c.oid::regclass FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_id = ANY (ark_tenant_ids()))', t);
  END LOOP;
END $$;

-- An API key is looked up by its id before its tenant is known: ark_api_key (functions/ark_api_key.sql).
