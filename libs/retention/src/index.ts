export { ChunkCompactionRepository, type ChunkRunToCompact, type CompactionOutcome } from './chunk-compaction.repository.js';
export { ChunkCompactor, type ChunkCompactorOptions, type CompactionReport } from './chunk-compactor.js';
export { RetentionModule, type RetentionOptions } from './retention.module.js';
export { RETENTION_CACHE_MS, RetentionPolicy, type EffectiveRetention } from './retention-policy.js';
export { RetentionRepository, type EventPartition, type PartitionPass, type RetentionStatus, type TenantRetention } from './retention.repository.js';
export { PARTITION_DROP_AFTER_SECONDS, partitionOptions, RowReaper, type PartitionOptions, type ReapReport, type RowReaperOptions } from './row-reaper.js';
export { TenantRetentionRepository, type RetentionOverrides } from './tenant-retention.repository.js';
