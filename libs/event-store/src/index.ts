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
  A2A_TASK_UPDATED,
  APPROVAL_REQUESTED,
  APPROVAL_RESOLVED,
  FAMILY_OPERATIONS,
  LLM_CHUNK,
  LLM_STREAM_COMPLETED,
  MESSAGE_ADDED,
  MESSAGES_DELETED,
  OPERATION_RECORDED,
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
export { EventLogRepository, EVENTS_CHANNEL, type AppendNotification } from './event-log.repository.js';
export { EventNotificationListener } from './event-notification-listener.js';
export { EventStoreModule, EventListenerStatus, type EventStoreOptions } from './event-store.module.js';
export { EventWatchHub, type Watch, type WatchSink } from './event-watch-hub.js';
export { compareFeedCursors, FEED_START, formatFeedCursor, parseFeedCursor, type FeedCursor } from './feed-cursor.js';
export { GroupCommitWriter, UnstorableEventsError, WriteQueueFullError, type CommittedBatch, type GroupCommitOptions } from './group-commit-writer.js';
export { INLINE_PROJECTORS, type InlineProjector } from './inline-projector.js';
export { WORK_STEP_RESOLVER, type WorkStepResolver } from './work-step-resolver.js';
