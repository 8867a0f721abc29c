-- The bytes of each event's `data` and each message as JSON text, recorded when they are written
-- (ark_append_events, from what the broker serialised anyway; the messages projector likewise). A
-- read page's byte budget (READ_PAGE_MAX_BYTES) sums them before choosing its rows; computed at read
-- time instead, every read rendered every candidate row to text, so a tenant paging 10 MB events burnt
-- 35 ms of PostgreSQL CPU per candidate row even for rows it never sent.
-- Nullable with no default: adding them rewrites nothing, and older rows are measured when read.
ALTER TABLE events ADD COLUMN data_bytes integer;
ALTER TABLE messages ADD COLUMN message_bytes integer;
