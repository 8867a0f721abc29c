export { ChunkCompactionRepository, type ChunkRunToCompact, type CompactionOutcome } from './chunk-compaction.repository.js';
export { ChunkCompactor, type ChunkCompactorOptions, type CompactionReport } from './chunk-compactor.js';
export { ANALYZE_CHANGED_SHARE, ANALYZE_MIN_CHANGES, PlannerStatistics, type PlannerStatisticsOptions } from './planner-statistics.js';
export { PlannerStatisticsRepository } from './planner-statistics.repository.js';
export { RetentionModule, type RetentionOptions } from './retention.module.js';
export { RETENTION_CACHE_MS, RetentionPolicy, type EffectiveRetention } from './retention-policy.js';
export { RetentionRepository, type RetentionStatus, type TenantRetention } from './retention.repository.js';
export { RowReaper, type ReapReport, type RowReaperOptions } from './row-reaper.js';
export { TenantRetentionRepository, type RetentionOverrides } from './tenant-retention.repository.js';
