import { Injectable } from '@nestjs/common';
import { EventLogRepository, type ArkEvent, type FeedCursor, type LogPage } from '#ark/event-store';
import type { ReadScope } from '#ark/database';

export interface EventPage {
  events: ArkEvent[];
  hasMore: boolean;
  /** The page stopped at READ_PAGE_MAX_BYTES before `limit` (hasMore is then true). */
  cutAtByteBudget: boolean;
}

/** Pages are answered as read: each event's data is passed on as PostgreSQL's JSON text, never parsed here (pageOrWatch). */
const PASSED_ON = { dataAsText: true } as const;

/** Pages of the log as a caller may read them: one session's events, the tenant's gap-free feed, or one type's part of it. */
@Injectable()
export class EventPagesService {
  constructor(private readonly log: EventLogRepository) {}

  /** Undefined when the scope sees no such session. */
  async sessionPage(scope: ReadScope, sessionId: string, after: number, limit: number, types?: readonly string[]): Promise<EventPage | undefined> {
    const [visible, page] = await Promise.all([
      this.log.sessionVisible(scope, sessionId),
      this.log.readSession(scope, sessionId, after, limit + 1, types, PASSED_ON),
    ]);
    if (!visible) return undefined;
    return pageOf(page, limit);
  }

  async feedPage(scope: ReadScope, after: FeedCursor, limit: number): Promise<EventPage> {
    return pageOf(await this.log.readFeed(scope, after, limit + 1, undefined, PASSED_ON), limit);
  }

  /** The part of the feed of one event type (a custom topic), gap-free like the feed. */
  async typePage(scope: ReadScope, type: string, after: FeedCursor, limit: number): Promise<EventPage> {
    return pageOf(await this.log.readFeed(scope, after, limit + 1, { type }, PASSED_ON), limit);
  }
}

/** `limit` events of a read of `limit + 1` (the extra one says whether there is more). */
function pageOf({ events, cut }: LogPage, limit: number): EventPage {
  return { events: events.slice(0, limit), hasMore: events.length > limit || cut, cutAtByteBudget: cut };
}
