-- Per-tenant retention (docs/architecture.md#retention): a tenant's own visibility TTLs, each null for
-- the broker's setting (MESSAGE_/EVENT_/SESSIONS_VISIBILITY_TTL_SECONDS). Set with PUT /v2/retention
-- (the tenant's admin) or `ark-broker retention set`; read by RetentionPolicy (new events' expiry)
-- and SessionsProjector (a session's expiry).
CREATE TABLE tenant_retention (
  tenant_id             text        PRIMARY KEY,
  message_ttl_seconds   integer     CHECK (message_ttl_seconds > 0),
  event_ttl_seconds     integer     CHECK (event_ttl_seconds > 0),
  sessions_ttl_seconds  integer     CHECK (sessions_ttl_seconds > 0),
  updated_at            timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE tenant_retention ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_retention USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));
