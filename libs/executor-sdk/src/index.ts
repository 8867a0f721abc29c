export { BrokerApi, BrokerError, type BrokerApiOptions, type ClaimedQuery, type HeartbeatAnswer, type ReportedPhase } from './broker-api.js';
export { QueryExecutor, type QueryContext, type QueryExecutorOptions, type QueryHandler, type StopReason } from './query-executor.js';
