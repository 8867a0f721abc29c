import { NamespaceForbiddenError } from '#ark/errors';
import { inSpan } from '#ark/tracing';
import type { AppendedEvent, NewArkEvent } from './ark-event.js';
import type { EventLogRepository } from './event-log.repository.js';
import { updatedType, workStepOf } from './event-types.js';
import type { GroupCommitWriter } from './group-commit-writer.js';

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
    private readonly log: EventLogRepository,
    private readonly ttls: EventTtlSource,
  ) {}

  async append(writer: EventWriter, events: readonly SessionEvent[]): Promise<AppendedEvent[]> {
    const allowed = writer.namespaces;
    const outside = allowed && events.find((e) => e.event.namespace && !allowed.includes(e.event.namespace));
    if (allowed && outside) throw new NamespaceForbiddenError(allowed, outside.event.namespace!);
    // A step's first report is stored under its step key, so every later report of it is a duplicate.
    const results = await this.commit(
      writer,
      events.map(({ sessionId, event: { stepKey, ...event } }) => ({ sessionId, event: stepKey ? { ...event, dedupeKey: stepKey } : event })),
    );
    const steps = events.filter((e, i) => e.event.stepKey && results[i]!.duplicate);
    if (steps.length > 0) await this.appendLaterReports(writer, steps);
    return results;
  }

  /**
   * Reports of steps already stored: a retry (same source, same span) changes nothing; a report from
   * another source or span is stored as `<family>.updated`, under its own dedupe key (so its retries
   * are no-ops too), and the read models fold in what it adds. Never a second completion.
   */
  private async appendLaterReports(writer: EventWriter, steps: readonly SessionEvent[]): Promise<void> {
    const stored = await this.log.storedReporters(
      { tenantId: writer.tenantId },
      steps.map((s) => ({ sessionId: s.sessionId, dedupeKey: s.event.stepKey! })),
    );
    const updates = steps.flatMap(({ sessionId, event: { stepKey, ...event } }) => {
      const first = stored.get(`${sessionId}\u0000${stepKey}`);
      const step = workStepOf(event);
      if (!step || (first && first.source === event.source && first.spanId === (event.spanId ?? null))) return [];
      return [{ sessionId, event: { ...event, type: updatedType(step.family), data: { ...(event.data as object), phase: step.phase } } }];
    });
    if (updates.length > 0) await this.commit(writer, updates);
  }

  private async commit(writer: EventWriter, events: readonly SessionEvent[]): Promise<AppendedEvent[]> {
    const ttls = await this.ttls.ttlsFor(writer.tenantId);
    const items = events.map(({ sessionId, event }) => ({
      tenantId: writer.tenantId,
      sessionId,
      event: event.ttlSeconds !== undefined ? event : { ...event, ttlSeconds: event.source === 'message' ? ttls.messageSeconds : ttls.eventSeconds },
    }));
    // Queue wait plus the group-commit transaction that carried these events.
    return inSpan('append events', { 'ark.events': items.length }, () => this.writer.append(items));
  }
}
