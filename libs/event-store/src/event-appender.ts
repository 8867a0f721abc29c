import { NamespaceForbiddenError } from '#ark/errors';
import { inSpan } from '#ark/tracing';
import type { AppendedEvent, NewArkEvent } from './ark-event.js';
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

/**
 * The one append port: every command that writes calls `append` with its writer and the events it
 * built. Resolves once the events are committed (any sessions of the writer's tenant, atomically).
 */
export class EventAppender {
  constructor(private readonly writer: GroupCommitWriter) {}

  async append(writer: EventWriter, events: readonly SessionEvent[]): Promise<AppendedEvent[]> {
    const allowed = writer.namespaces;
    const outside = allowed && events.find((e) => e.event.namespace && !allowed.includes(e.event.namespace));
    if (allowed && outside) throw new NamespaceForbiddenError(allowed, outside.event.namespace!);
    return this.commit(writer, events);
  }

  private commit(writer: EventWriter, events: readonly SessionEvent[]): Promise<AppendedEvent[]> {
    const items = events.map(({ sessionId, event }) => ({ tenantId: writer.tenantId, sessionId, event }));
    // Queue wait plus the group-commit transaction that carried these events.
    return inSpan('append events', { 'ark.events': items.length }, () => this.writer.append(items));
  }
}
