export { EVENT_SOURCES, type AppendedEvent, type ArkEvent, type ArkEventJson, type EventSource, type NewArkEvent, type StreamEvent } from './ark-event.js';
export {
  EVENT_COLUMNS,
  EVENT_ROW,
  EVENT_SELECT,
  EVENT_WRITTEN_COLUMNS,
  NEVER_EXPIRES,
  toAppendBatch,
  toArkEvent,
  toArkEventJson,
  type AppendBatchRow,
  type EventColumn,
  type EventRow,
} from './event-row.js';
export {
  A2A_TASK_ARTIFACT,
  A2A_TASK_STATUS,
  A2A_TASK_UPDATED,
  CUSTOM_TOPIC_NAME,
  customTopicType,
  APPROVAL_REQUESTED,
  APPROVAL_RESOLVED,
  FAMILY_OPERATIONS,
  LLM_CHUNK,
  LLM_STREAM_COMPLETED,
  MESSAGE_ADDED,
  MESSAGES_DELETED,
  OPERATION_RECORDED,
  QUERY_EXECUTION_EVENTS,
  isQuerySubmission,
  PHASE_REASONS,
  RECORDS_DELETED,
  RESERVED_EVENT_TYPES,
  SESSION_SIGNALLED,
  SPAN_FAMILY,
  WORK_FAMILIES,
  WORK_PHASES,
  updatedType,
  workStepOf,
  workTypeOf,
  type WorkFamily,
  type WorkPhase,
} from './event-types.js';
export { decodeChunkRun, encodeChunkRun, type ChunkRunHeader, type EncodedChunk, type EncodedChunkRun, type RawChunkRow } from './chunk-run-codec.js';
export { EVENT_TTL_SOURCE, EventAppender, type EventTtls, type EventTtlSource, type EventWriter, type SessionEvent } from './event-appender.js';
export {
  DEFAULT_PAGE_MAX_BYTES,
  EventLogRepository,
  EVENTS_CHANNEL,
  type AppendNotification,
  type FeedNarrowing,
  type LogPage,
  ROW_BYTES,
  withinByteBudget,
  type LogReadOptions,
} from './event-log.repository.js';
export { JsonText, serializeJsonParts } from './json-text.js';
export { EventNotificationListener, type ChannelSubscriber } from './event-notification-listener.js';
export { EventStoreModule, EventListenerStatus, NotificationChannels, type EventStoreOptions } from './event-store.module.js';
export { EventWatchHub, type Watch, type WatchSink } from './event-watch-hub.js';
export { compareFeedCursors, FEED_START, formatFeedCursor, parseFeedCursor, type FeedCursor } from './feed-cursor.js';
export { GroupCommitWriter, UnstorableEventsError, WriteQueueFullError, type CommittedBatch, type GroupCommitOptions } from './group-commit-writer.js';
export { TenantWriteShare, type TenantWriteShareOptions } from './tenant-write-share.js';
export { INLINE_PROJECTORS, type InlineProjector } from './inline-projector.js';
export { WORK_STEP_RESOLVER, type WorkStepResolver } from './work-step-resolver.js';
