import type { ArkEvent, NewArkEvent } from '#ark/event-store';

/** Collections an upstream DELETE can empty, and the session their tombstones are appended to. */
export const DELETABLE_COLLECTIONS = ['operation-events', 'traces', 'sessions'] as const;
export type DeletableCollection = (typeof DELETABLE_COLLECTIONS)[number];

export const RECORDS_DELETED = 'records.deleted';

export interface RecordsDeletedData {
  collection: DeletableCollection;
  /** Only this query's records; absent: the whole collection. */
  queryId?: string;
}

/** The tombstone: it hides the collection's records before it (lower global position) in its scope. */
export function recordsDeletedEvent(scope: RecordsDeletedData, userId: string): { sessionId: string; event: NewArkEvent } {
  return {
    sessionId: scope.collection,
    event: { type: RECORDS_DELETED, source: 'api', userId, queryId: scope.queryId ?? null, data: { ...scope } },
  };
}

export function readRecordsDeleted(event: ArkEvent): RecordsDeletedData | undefined {
  if (event.type !== RECORDS_DELETED) return undefined;
  const data = event.data as Partial<RecordsDeletedData>;
  return DELETABLE_COLLECTIONS.includes(data.collection as DeletableCollection) ? (data as RecordsDeletedData) : undefined;
}
