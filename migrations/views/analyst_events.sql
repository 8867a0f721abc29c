-- `events` for the read-only analyst role (0150): the rows of the tenants analyst_allowed_tenants
-- names for the querying role. Owner's rights (analysts have no table privileges); a security
-- barrier, so an analyst's own functions in a WHERE clause only ever see rows that passed the
-- tenant filter. SELECT only: the view is updatable, analysts may not update it.
CREATE OR REPLACE VIEW analyst_events WITH (security_barrier = true) AS
  SELECT t.* FROM events t WHERE t.tenant_id = ANY (ARRAY(SELECT tenant_id FROM analyst_allowed_tenants));
REVOKE ALL ON analyst_events FROM PUBLIC, ark_broker_app;
GRANT SELECT ON analyst_events TO ark_analyst;
