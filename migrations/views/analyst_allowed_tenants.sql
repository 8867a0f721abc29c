-- The tenants the querying role may read through the analyst_* views: those `analyst_tenants` (0150)
-- maps to it or to a role it is a member of. It runs with its owner's rights (it reads the mapping,
-- which analysts cannot), while `current_user` is still the querying role, so each role sees only
-- its own tenants. Membership goes by role oid, so a mapping of a dropped role is simply unused.
CREATE OR REPLACE VIEW analyst_allowed_tenants WITH (security_barrier = true) AS
  SELECT DISTINCT m.tenant_id FROM analyst_tenants m
  JOIN pg_roles r ON r.rolname = m.role_name
  WHERE pg_has_role(current_user, r.oid, 'MEMBER');
REVOKE ALL ON analyst_allowed_tenants FROM PUBLIC, ark_broker_app;
GRANT SELECT ON analyst_allowed_tenants TO ark_analyst;
