export { RetentionModule } from './retention.module.js';
export { RetentionRepository, type RetentionStatus, type TenantRetention } from './retention.repository.js';
export { RowReaper, type ReapReport, type RowReaperOptions } from './row-reaper.js';
