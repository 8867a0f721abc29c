import { Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { InvalidCursorError } from '#ark/errors';
import { compareFeedCursors, EventLogRepository, parseFeedCursor, type FeedCursor } from '#ark/event-store';
import type { ReadScope } from '#ark/database';
import { WatchStreamService } from '../../watch/watch-stream.service.js';
import { MemoryRepository } from './memory.repository.js';
import { MessageWatchFilter } from './message-views.js';

export interface MessageWatchRequest {
  /** Only this conversation's messages. */
  conversationId?: string;
  /** `tx:pos` of the last message received: resume exactly after it (wins over `cursor`). */
  lastEventId?: string;
  /** Upstream's numeric cursor: replay the messages with a higher `sequence` first. */
  cursor?: number;
}

/**
 * `GET /messages?watch=true`: the tenant feed narrowed to messages, as upstream items, with `id:`
 * lines. Without a resume point it is live only, as upstream. Whatever it replays leaves out what
 * has been deleted or has expired since.
 */
@Injectable()
export class MessageWatchService {
  constructor(
    private readonly memory: MemoryRepository,
    private readonly log: EventLogRepository,
    private readonly streams: WatchStreamService,
  ) {}

  async watch(reply: FastifyReply, scope: ReadScope, request: MessageWatchRequest): Promise<void> {
    let from: FeedCursor | undefined;
    /** Replayed messages lie after this position; only deletions after it can cover them. */
    let replayAfter: number | undefined;
    if (request.lastEventId !== undefined) {
      from = parseFeedCursor(request.lastEventId);
      if (!from) throw new InvalidCursorError(`bad Last-Event-ID ${JSON.stringify(request.lastEventId)}: expected tx:pos`);
      replayAfter = from.globalPosition;
    } else if (request.cursor !== undefined) {
      from = await this.replayStart(scope, request.cursor);
      replayAfter = request.cursor;
    }
    const tombstones = replayAfter === undefined ? [] : await this.memory.tombstonesAfter(scope, replayAfter);
    const filter = new MessageWatchFilter(tombstones, request.conversationId);
    await this.streams.watchTenant(reply, scope, from, { preamble: ['connected'], filter: filter.accepts, format: filter.format });
  }

  /**
   * Where the feed must start to include every message with a position above `cursor`: just before
   * the first such message, or at the current horizon when there is none yet, whichever is earlier
   * (the horizon is read first, so a message that commits meanwhile is either found or after it).
   */
  private async replayStart(scope: ReadScope, cursor: number): Promise<FeedCursor> {
    // The horizon itself: what committed before it but after `cursor` is replayed, not skipped.
    const head = (await this.log.feedNow()).cursor;
    const first = await this.memory.firstMemoryEventAfter(scope, cursor);
    if (!first) return head;
    const beforeFirst = { transactionId: first.transactionId, globalPosition: first.globalPosition - 1 };
    return compareFeedCursors(beforeFirst, head) < 0 ? beforeFirst : head;
  }
}
