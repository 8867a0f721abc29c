-- `DELETE /stream` now appends a `records.deleted` tombstone (collection 'stream') like every other
-- upstream DELETE, and DeletionsProjector records it in `deletions`; the separate watermark table
-- goes. A tenant's existing watermark carries over as a deletion row (it has no tombstone in the
-- log, so a projection rebuild does not restore it).
INSERT INTO deletions (tenant_id, scope, query_id, up_to_position)
SELECT tenant_id, 'stream', NULL, purged_through FROM chunk_stream_purges
ON CONFLICT DO NOTHING;

DROP TABLE chunk_stream_purges;
