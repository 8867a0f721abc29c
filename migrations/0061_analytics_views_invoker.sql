-- The analytics views (0010) run with the rights of whoever queries them (PostgreSQL 15's
-- security_invoker), so row-level security (0030) applies through them as it does to the tables:
-- the broker's role, or an analyst's role given ark_broker_app, sees only the tenants in
-- `ark.tenant_ids`. As owner-rights views (the default) they showed every tenant to anyone allowed
-- to select from them.
ALTER VIEW analytics_sessions_per_day SET (security_invoker = true);
ALTER VIEW analytics_token_usage SET (security_invoker = true);
ALTER VIEW analytics_tool_latency SET (security_invoker = true);
ALTER VIEW analytics_error_rates SET (security_invoker = true);
