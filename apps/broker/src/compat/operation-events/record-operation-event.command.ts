import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender } from '#ark/event-store';
import { normalizeOperationEvent, type OperationEvent } from '#ark/normalizer';
import type { CallerIdentity } from '#ark/tenancy';

/** Store one operation event from Ark's controller. */
export class RecordOperationEventCommand extends Command<void> {
  constructor(
    readonly caller: CallerIdentity,
    readonly body: OperationEvent,
    /** The request's `ttl_seconds`: how long the event stays visible (else EVENT_VISIBILITY_TTL_SECONDS). */
    readonly ttlSeconds?: number,
  ) {
    super();
  }
}

@CommandHandler(RecordOperationEventCommand)
export class RecordOperationEventHandler implements ICommandHandler<RecordOperationEventCommand, void> {
  constructor(private readonly appender: EventAppender) {}

  async execute({ caller, body, ttlSeconds }: RecordOperationEventCommand): Promise<void> {
    const { sessionId, event } = normalizeOperationEvent(body);
    await this.appender.append(caller, [{ sessionId, event: ttlSeconds === undefined ? event : { ...event, ttlSeconds } }]);
  }
}
