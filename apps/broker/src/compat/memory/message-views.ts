import type { ArkEvent } from '#ark/event-store';
import { deletionScopeMatches, readMessageAdded, readMessagesDeleted } from '#ark/normalizer';
import type { MessageRow, Tombstone } from './memory.repository.js';

/** The upstream message item, on every memory read route and stream. */
export interface MessageItem {
  timestamp: string;
  conversation_id: string;
  query_id: string;
  message: unknown;
  /** The event's global position: increasing, and the numeric cursor of `/messages`. */
  sequence: number;
}

export function messageRowItem(row: MessageRow): MessageItem {
  return {
    timestamp: row.recorded_at.toISOString(),
    conversation_id: row.conversation_id,
    query_id: row.query_id,
    message: row.message,
    sequence: row.global_position,
  };
}

/**
 * A deletion seen live only matters to messages of transactions that were in flight beside it (a
 * lower position, committed later); those follow it in the feed within moments.
 */
const LIVE_TOMBSTONE_MEMORY_MS = 60_000;

/**
 * Which events of the tenant feed a `/messages` watch sends, and as what, leaving out what the
 * `messages` table leaves out: messages that a later deletion covers (the deletions committed after
 * the start position are loaded up front, for a replay; newer ones are learned as the feed passes
 * them), and expired ones.
 */
export class MessageWatchFilter {
  private readonly replayTombstones: readonly Tombstone[];
  private liveTombstones: (Tombstone & { seenAt: number })[] = [];

  constructor(
    tombstones: readonly Tombstone[],
    private readonly conversationId: string | undefined,
  ) {
    this.replayTombstones = [...tombstones];
  }

  readonly accepts = (event: ArkEvent): boolean => {
    const scope = readMessagesDeleted(event);
    if (scope) {
      const now = Date.now();
      this.liveTombstones = this.liveTombstones.filter((t) => t.seenAt > now - LIVE_TOMBSTONE_MEMORY_MS);
      this.liveTombstones.push({ globalPosition: event.globalPosition, scope, seenAt: now });
      return false;
    }
    const message = readMessageAdded(event);
    if (!message) return false;
    if (this.conversationId !== undefined && message.conversationId !== this.conversationId) return false;
    if (event.expiresAt.getTime() <= Date.now()) return false;
    const covers = (t: Tombstone) => t.globalPosition > event.globalPosition && deletionScopeMatches(t.scope, message);
    return !this.replayTombstones.some(covers) && !this.liveTombstones.some(covers);
  };

  /** The item of an event `accepts` let through. */
  readonly format = (event: ArkEvent): MessageItem | undefined => {
    const message = readMessageAdded(event);
    return (
      message && {
        timestamp: event.recordedAt.toISOString(),
        conversation_id: message.conversationId,
        query_id: message.queryId,
        message: message.message,
        sequence: event.globalPosition,
      }
    );
  };
}
