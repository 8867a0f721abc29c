import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EventLogRepository, type ArkEvent, type FeedCursor } from '#ark/event-store';
import type { ReadScope } from '#ark/tenancy';

export interface EventPage {
  events: ArkEvent[];
  hasMore: boolean;
}

/** A page of one session's events; undefined when the scope sees no such session. */
export class ReadSessionEventsQuery extends Query<EventPage | undefined> {
  constructor(
    readonly scope: ReadScope,
    readonly sessionId: string,
    readonly after: number,
    readonly limit: number,
    readonly types?: readonly string[],
  ) {
    super();
  }
}

@QueryHandler(ReadSessionEventsQuery)
export class ReadSessionEventsHandler implements IQueryHandler<ReadSessionEventsQuery, EventPage | undefined> {
  constructor(private readonly log: EventLogRepository) {}

  async execute(q: ReadSessionEventsQuery): Promise<EventPage | undefined> {
    const [visible, events] = await Promise.all([
      this.log.sessionVisible(q.scope.tenantId, q.sessionId, q.scope.ownerId),
      this.log.readSession(q.scope.tenantId, q.sessionId, q.after, q.limit + 1, q.types),
    ]);
    if (!visible) return undefined;
    return { events: events.slice(0, q.limit), hasMore: events.length > q.limit };
  }
}

/** A page of the gap-free feed of what the scope sees. */
export class ReadTenantFeedQuery extends Query<EventPage> {
  constructor(
    readonly scope: ReadScope,
    readonly after: FeedCursor,
    readonly limit: number,
  ) {
    super();
  }
}

@QueryHandler(ReadTenantFeedQuery)
export class ReadTenantFeedHandler implements IQueryHandler<ReadTenantFeedQuery, EventPage> {
  constructor(private readonly log: EventLogRepository) {}

  async execute(q: ReadTenantFeedQuery): Promise<EventPage> {
    const { events } = await this.log.readFeed(q.scope.tenantId, q.after, q.limit + 1, { ownerId: q.scope.ownerId });
    return { events: events.slice(0, q.limit), hasMore: events.length > q.limit };
  }
}
