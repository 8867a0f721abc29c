import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { customTopicType, EventAppender, type AppendedEvent } from '#ark/event-store';
import type { CallerIdentity } from '#ark/tenancy';
import { producerEvent } from './producer-event.js';
import type { TopicEventDto } from './dto/topic-event.dto.js';

/** The session of a topic's events that name none: the topic's own stream in the tenant. */
export const topicSessionId = (name: string) => `topic:${name}`;

/** `POST /v2/streams/:name`: a producer's events of one custom topic (`custom.<name>`), atomically. */
export class AppendTopicEventsCommand extends Command<AppendedEvent[]> {
  constructor(
    readonly caller: CallerIdentity,
    readonly topic: string,
    readonly events: readonly TopicEventDto[],
  ) {
    super();
  }
}

@CommandHandler(AppendTopicEventsCommand)
export class AppendTopicEventsHandler implements ICommandHandler<AppendTopicEventsCommand, AppendedEvent[]> {
  constructor(private readonly appender: EventAppender) {}

  execute({ caller, topic, events }: AppendTopicEventsCommand): Promise<AppendedEvent[]> {
    const type = customTopicType(topic);
    return this.appender.append(
      caller,
      events.map((d) => producerEvent(d, d.sessionId ?? topicSessionId(topic), type)),
    );
  }
}
