-- Producer (and reader/admin) API keys, bound to a tenant. Only a SHA-256 of the secret is kept: keys
-- are 256-bit random, so a fast hash is enough and a leaked table reveals no usable key.
CREATE TABLE api_keys (
  id           text        PRIMARY KEY,
  tenant_id    text        NOT NULL,
  name         text        NOT NULL,
  roles        text[]      NOT NULL,
  namespaces   text[],
  secret_hash  text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
