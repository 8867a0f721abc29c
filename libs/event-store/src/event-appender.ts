import { NamespaceForbiddenError } from '#ark/errors';
import { inSpan } from '#ark/tracing';
import type { AppendedEvent, NewArkEvent } from './ark-event.js';
import type { GroupCommitWriter } from './group-commit-writer.js';
import type { TenantWriteShare } from './tenant-write-share.js';

/** Who appends: events land in this tenant; a writer bound to namespaces may only write those (or none). */
export interface EventWriter {
  readonly tenantId: string;
  readonly namespaces?: readonly string[];
}

/** One event for one session of the writer's tenant. */
export interface SessionEvent {
  sessionId: string;
  event: NewArkEvent;
}

/** How long a tenant's events stay visible by default (docs/architecture.md#retention): a request's `ttl_seconds` overrides it. */
export interface EventTtls {
  /** `message.added` (POST /messages): MESSAGE_VISIBILITY_TTL_SECONDS. */
  messageSeconds: number;
  /** Every other event: EVENT_VISIBILITY_TTL_SECONDS. */
  eventSeconds: number;
}

/** Where the appender learns a tenant's default TTLs (the retention library's per-tenant policy). */
export interface EventTtlSource {
  ttlsFor(tenantId: string): Promise<EventTtls>;
}

/** Injection token of the EventTtlSource the event store's appender uses. */
export const EVENT_TTL_SOURCE = Symbol('EVENT_TTL_SOURCE');

/**
 * The one append port: every command that writes calls `append` with its writer and the events it
 * built. Resolves once the events are committed (any sessions of the writer's tenant, atomically).
 */
export class EventAppender {
  constructor(
    private readonly writer: GroupCommitWriter,
    private readonly ttls: EventTtlSource,
    private readonly share: TenantWriteShare,
  ) {}

  async append(writer: EventWriter, events: readonly SessionEvent[]): Promise<AppendedEvent[]> {
    const allowed = writer.namespaces;
    const outside = allowed && events.find((e) => e.event.namespace && !allowed.includes(e.event.namespace));
    if (allowed && outside) throw new NamespaceForbiddenError(allowed, outside.event.namespace!);
    return this.commit(writer, events);
  }

  private async commit(writer: EventWriter, events: readonly SessionEvent[]): Promise<AppendedEvent[]> {
    const ttls = await this.ttls.ttlsFor(writer.tenantId);
    const items = events.map(({ sessionId, event }) => ({
      tenantId: writer.tenantId,
      sessionId,
      event: event.ttlSeconds !== undefined ? event : { ...event, ttlSeconds: event.source === 'message' ? ttls.messageSeconds : ttls.eventSeconds },
    }));
    // The tenant's turn, the queue wait and the group-commit transaction that carried these events.
    return inSpan('append events', { 'ark.events': items.length }, () => this.share.run(writer.tenantId, items.length, () => this.writer.append(items)));
  }
}
