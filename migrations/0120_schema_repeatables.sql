-- schema_repeatables records the repeatable files (functions/, views/) the migrator applied; like
-- schema_migrations it is none of the broker's business.
REVOKE ALL ON schema_repeatables FROM ark_broker_app;
