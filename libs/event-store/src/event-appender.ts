import { InvalidArgumentError, NamespaceForbiddenError } from '#ark/errors';
import { inSpan } from '#ark/tracing';
import type { AppendedEvent, NewArkEvent } from './ark-event.js';
import type { GroupCommitWriter } from './group-commit-writer.js';
import type { TenantWriteShare } from './tenant-write-share.js';

/** Who appends: events land in this tenant; a writer bound to namespaces may only write those (or none). */
export interface EventWriter {
  readonly tenantId: string;
  readonly namespaces?: readonly string[];
}

/** Longest session id, query id or name, namespace, user id and trace or span id an event may carry. */
export const MAX_ID_CHARS = 512;
/** Longest dedupe or step key (they are built from several ids). */
export const MAX_KEY_CHARS = 2_048;

const ID_FIELDS = ['queryId', 'queryName', 'namespace', 'userId', 'traceId', 'spanId', 'parentSpanId'] as const;
const KEY_FIELDS = ['dedupeKey', 'stepKey'] as const;

/**
 * Ids are indexed: one far longer than any real id would fail the index ("index row requires …") after
 * the batch it came in was sent. Refused up front instead, naming the field.
 */
function refuseOverlongIds(events: readonly SessionEvent[]): void {
  const overlong = (field: string, value: string | null | undefined, max: number) => {
    if (typeof value === 'string' && value.length > max)
      throw new InvalidArgumentError(`${field} is ${value.length} characters long; at most ${max} are stored`);
  };
  for (const { sessionId, event } of events) {
    overlong('sessionId', sessionId, MAX_ID_CHARS);
    for (const field of ID_FIELDS) overlong(field, event[field], MAX_ID_CHARS);
    for (const field of KEY_FIELDS) overlong(field, event[field], MAX_KEY_CHARS);
  }
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
    refuseOverlongIds(events);
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
