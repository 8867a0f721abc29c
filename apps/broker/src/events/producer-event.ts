import type { SessionEvent } from '#ark/event-store';
import type { TopicEventDto } from './dto/topic-event.dto.js';

/** A producer's event as the log stores it (`POST /v2/events`, `POST /v2/streams/:name`): the fields it sent, source `api`. */
export function producerEvent(d: Omit<TopicEventDto, 'sessionId'>, sessionId: string, type: string): SessionEvent {
  return {
    sessionId,
    event: {
      type,
      time: d.time === undefined ? undefined : new Date(d.time),
      queryId: d.queryId,
      queryName: d.queryName,
      namespace: d.namespace,
      userId: d.userId,
      traceId: d.traceId,
      spanId: d.spanId,
      parentSpanId: d.parentSpanId,
      dedupeKey: d.dedupeKey,
      source: 'api',
      data: d.data,
    },
  };
}
