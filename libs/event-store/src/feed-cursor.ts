/**
 * Position in a tenant's gap-free feed: the appending transaction's xid8 and the event's global
 * position. Written `tx:pos` (the SSE id of the tenant feed).
 */
export interface FeedCursor {
  transactionId: bigint;
  globalPosition: number;
  /**
   * Every event past this cursor was recorded at or after this (EventLogRepository.readFeed bounds
   * its read by it, so only the recent partitions of `events` are opened). Not part of the wire form:
   * a cursor read from a client has none, and the read finds one.
   */
  recordedFrom?: Date;
}

export const FEED_START: FeedCursor = { transactionId: 0n, globalPosition: 0 };

export function formatFeedCursor(cursor: FeedCursor): string {
  return `${cursor.transactionId}:${cursor.globalPosition}`;
}

/** Parses `tx:pos`; undefined when the text is not a cursor. */
export function parseFeedCursor(text: string): FeedCursor | undefined {
  const match = /^(\d{1,20}):(\d{1,16})$/.exec(text.trim());
  if (!match) return undefined;
  const transactionId = BigInt(match[1]!);
  const globalPosition = Number(match[2]!);
  if (transactionId >= 1n << 63n || !Number.isSafeInteger(globalPosition)) return undefined;
  return { transactionId, globalPosition };
}

export function compareFeedCursors(a: FeedCursor, b: FeedCursor): number {
  if (a.transactionId !== b.transactionId) return a.transactionId < b.transactionId ? -1 : 1;
  return a.globalPosition - b.globalPosition;
}
