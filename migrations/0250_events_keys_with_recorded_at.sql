-- no-transaction
-- Before `events` is partitioned by recorded_at (0253, docs/architecture.md#time-partitioned-log): a
-- unique index of a partitioned table must hold the partition key, so the table's two unique keys
-- gain recorded_at. Built here, concurrently (appends continue), so that 0253 only swaps them in and
-- the old table becomes the first partition without any index being built under its lock.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS events_session_sequence_recorded ON events (tenant_id, session_id, sequence, recorded_at);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS events_tenant_position_recorded ON events (tenant_id, global_position, recorded_at);
