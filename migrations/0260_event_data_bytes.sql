-- The bytes of each event's `data` as JSON text, recorded by ark_append_events from what the broker
-- serialised anyway. A read page's byte budget (READ_PAGE_MAX_BYTES) sums it before choosing its rows;
-- computed at read time instead, every read rendered every candidate row's data to text, so a tenant
-- paging 10 MB events burnt 35 ms of PostgreSQL CPU per candidate row even for rows it never sent.
-- Nullable with no default: adding it rewrites nothing, and rows stored before it are measured when read.
ALTER TABLE events ADD COLUMN data_bytes integer;
