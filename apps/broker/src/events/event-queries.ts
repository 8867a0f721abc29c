import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EventLogRepository, type ArkEvent, type FeedCursor } from '#ark/event-store';

export interface EventPage {
  events: ArkEvent[];
  hasMore: boolean;
}

/** A page of one session's events; undefined when the tenant has no such session. */
export class ReadSessionEventsQuery extends Query<EventPage | undefined> {
  constructor(
    readonly tenantId: string,
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
    const [last, events] = await Promise.all([
      this.log.lastSequence(q.tenantId, q.sessionId),
      this.log.readSession(q.tenantId, q.sessionId, q.after, q.limit + 1, q.types),
    ]);
    if (last === undefined) return undefined;
    return { events: events.slice(0, q.limit), hasMore: events.length > q.limit };
  }
}

/** A page of a tenant's gap-free feed. */
export class ReadTenantFeedQuery extends Query<EventPage> {
  constructor(
    readonly tenantId: string,
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
    const { events } = await this.log.readFeed(q.tenantId, q.after, q.limit + 1);
    return { events: events.slice(0, q.limit), hasMore: events.length > q.limit };
  }
}
