import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender, type AppendedEvent } from '#ark/event-store';
import type { CallerIdentity } from '#ark/tenancy';
import { producerEvent } from './producer-event.js';
import type { AppendEventDto } from './dto/append-event.dto.js';

/** `POST /v2/events`: a producer's own events, any sessions of its tenant, atomically. */
export class AppendProducerEventsCommand extends Command<AppendedEvent[]> {
  constructor(
    readonly caller: CallerIdentity,
    readonly events: readonly AppendEventDto[],
  ) {
    super();
  }
}

@CommandHandler(AppendProducerEventsCommand)
export class AppendProducerEventsHandler implements ICommandHandler<AppendProducerEventsCommand, AppendedEvent[]> {
  constructor(private readonly appender: EventAppender) {}

  execute({ caller, events }: AppendProducerEventsCommand): Promise<AppendedEvent[]> {
    return this.appender.append(
      caller,
      events.map((d) => producerEvent(d, d.sessionId, d.type)),
    );
  }
}
