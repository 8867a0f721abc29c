import { RECORDS_DELETED, type ArkEvent, type SessionEvent } from '#ark/event-store';

/** Collections an upstream DELETE can empty (`stream`: the chunks as the upstream `/stream` views show them); also the session their tombstones are appended to. */
export const DELETABLE_COLLECTIONS = ['operation-events', 'traces', 'sessions', 'stream'] as const;
export type DeletableCollection = (typeof DELETABLE_COLLECTIONS)[number];

export interface RecordsDeletedData {
  collection: DeletableCollection;
  /** Only this query's records; absent: the whole collection. */
  queryId?: string;
}

/** The tombstone: it hides the collection's records before it (lower global position) in its scope. */
export function recordsDeletedEvent(scope: RecordsDeletedData, userId: string): SessionEvent {
  return {
    sessionId: scope.collection,
    // Never expires: a rebuild must still find it while an event it hides (a longer ttl_seconds) is kept.
    event: { type: RECORDS_DELETED, source: 'api', userId, queryId: scope.queryId ?? null, ttlSeconds: null, data: { ...scope } },
  };
}

export function readRecordsDeleted(event: ArkEvent): RecordsDeletedData | undefined {
  if (event.type !== RECORDS_DELETED) return undefined;
  const data = event.data as Partial<RecordsDeletedData>;
  return DELETABLE_COLLECTIONS.includes(data.collection as DeletableCollection) ? (data as RecordsDeletedData) : undefined;
}
