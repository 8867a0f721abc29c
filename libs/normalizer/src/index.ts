// Maps each input format (OTLP spans, operation events, LLM chunks, memory messages, A2A task updates) to ark events
// (docs/events.md#4-event-types). One file per input; each export is a pure function with no I/O.
export { normalizeSpan, resolveSpanSessions, spanSessionId, type NormalizedSpan } from './span.normalizer.js';
export { chunkDedupeKey, normalizeChunk, streamCompletedEvent, type ChunkLine } from './chunk.normalizer.js';
export { normalizeOperationEvent, type OperationEvent } from './operation-event.normalizer.js';
export {
  deletionScopeMatches,
  fallbackSessionId,
  MEMORY_SESSION_ID,
  messagesDeletedEvent,
  normalizeMessages,
  readMessageAdded,
  readMessagesDeleted,
  type MessageAddedData,
  type MessageCorrelation,
  type MessagesDeletedData,
  type PostedMessages,
} from './message.normalizer.js';
export { DELETABLE_COLLECTIONS, readRecordsDeleted, recordsDeletedEvent, type DeletableCollection, type RecordsDeletedData } from './deletion.normalizer.js';
export { A2A_FINAL_STATES, A2aPayloadError, a2aStateName, normalizeA2aUpdate, type A2aTaskArtifactData, type A2aTaskStatusData } from './a2a.normalizer.js';
