import { createHash } from 'node:crypto';
import { MESSAGE_ADDED, MESSAGES_DELETED, type ArkEvent, type NewArkEvent } from '#ark/event-store';

/** Session of memory events that name no conversation and no query: deletions, and such messages. */
export const MEMORY_SESSION_ID = 'memory';

/** A `POST /messages` body, validated. */
export interface PostedMessages {
  conversationId: string;
  /** As posted: Ark posts the query's name; may be empty. */
  queryId: string;
  messages: readonly unknown[];
  ttlSeconds?: number;
}

/** `data` of a `message.added` event: one message of a `POST /messages`. */
export interface MessageAddedData {
  conversationId: string;
  queryId: string;
  message: unknown;
  /** Its position in the posted array. */
  index: number;
  ttlSeconds?: number;
}

/**
 * `data` of a `messages.deleted` tombstone: it deletes the messages before it (lower global position)
 * that match every field it names; with neither field, all of the tenant's messages.
 */
export interface MessagesDeletedData {
  conversationId?: string;
  queryId?: string;
}

/** Correlation columns of the query the messages belong to, when the log knows that query. */
export type MessageCorrelation = Pick<NewArkEvent, 'queryId' | 'queryName' | 'namespace' | 'userId'>;

/** Where messages go when the log knows no session for their query: their conversation's own. */
export function fallbackSessionId(posted: Pick<PostedMessages, 'conversationId' | 'queryId'>): string {
  return posted.conversationId || posted.queryId || MEMORY_SESSION_ID;
}

/**
 * One `message.added` event per posted message. A retried POST is a no-op: the dedupe key is a hash
 * of the whole request (conversation, query, messages) plus the message's index, so resending the
 * same request matches the stored copy. Without a query id nothing tells a retry from a new message
 * that happens to repeat an old one ("yes" twice), so those get no key and are stored as often as
 * they are posted, as upstream does.
 */
export function normalizeMessages(posted: PostedMessages, correlation: MessageCorrelation): NewArkEvent[] {
  const requestHash =
    posted.queryId === ''
      ? null
      : createHash('sha256')
          .update(JSON.stringify([posted.conversationId, posted.queryId, posted.messages]))
          .digest('hex');
  return posted.messages.map((message, index) => {
    const data: MessageAddedData = { conversationId: posted.conversationId, queryId: posted.queryId, message, index };
    if (posted.ttlSeconds !== undefined) data.ttlSeconds = posted.ttlSeconds;
    return {
      type: MESSAGE_ADDED,
      source: 'message',
      ...correlation,
      dedupeKey: requestHash === null ? null : `message:${requestHash}:${index}`,
      ...(posted.ttlSeconds !== undefined ? { ttlSeconds: posted.ttlSeconds } : {}),
      data,
    };
  });
}

/** The tombstone a memory DELETE appends. */
export function messagesDeletedEvent(scope: MessagesDeletedData, userId: string): NewArkEvent {
  const data: MessagesDeletedData = {};
  if (scope.conversationId !== undefined) data.conversationId = scope.conversationId;
  if (scope.queryId !== undefined) data.queryId = scope.queryId;
  // Never expires: a rebuild must still find it while a message it deleted (a longer ttl_seconds) is kept.
  return { type: MESSAGES_DELETED, source: 'message', userId, ttlSeconds: null, data };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The message of a `message.added` event written by the memory API, else undefined. Only the memory
 * API (source `message`) writes memory: a `/v2/events` producer cannot forge messages or deletions.
 */
export function readMessageAdded(event: Pick<ArkEvent, 'type' | 'source' | 'data'>): MessageAddedData | undefined {
  if (event.type !== MESSAGE_ADDED || event.source !== 'message' || !isRecord(event.data)) return undefined;
  const { conversationId, queryId, message, index, ttlSeconds } = event.data;
  if (typeof conversationId !== 'string' || typeof queryId !== 'string' || typeof index !== 'number') return undefined;
  return { conversationId, queryId, message, index, ...(typeof ttlSeconds === 'number' ? { ttlSeconds } : {}) };
}

/** The scope of a `messages.deleted` tombstone written by the memory API, else undefined. */
export function readMessagesDeleted(event: Pick<ArkEvent, 'type' | 'source' | 'data'>): MessagesDeletedData | undefined {
  if (event.type !== MESSAGES_DELETED || event.source !== 'message' || !isRecord(event.data)) return undefined;
  const { conversationId, queryId } = event.data;
  // A field that is there but not a string must not widen the scope to "everything".
  if ((conversationId !== undefined && typeof conversationId !== 'string') || (queryId !== undefined && typeof queryId !== 'string')) return undefined;
  return {
    ...(typeof conversationId === 'string' ? { conversationId } : {}),
    ...(typeof queryId === 'string' ? { queryId } : {}),
  };
}

/** Whether a tombstone's scope names this message (whether it comes before the tombstone is the caller's check). */
export function deletionScopeMatches(scope: MessagesDeletedData, message: Pick<MessageAddedData, 'conversationId' | 'queryId'>): boolean {
  return (
    (scope.conversationId === undefined || scope.conversationId === message.conversationId) &&
    (scope.queryId === undefined || scope.queryId === message.queryId)
  );
}
