import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender } from '#ark/event-store';
import { normalizeOperationEvent, type OperationEvent } from '#ark/normalizer';
import type { CallerIdentity } from '#ark/tenancy';

/** Store one operation event from Ark's controller. */
export class RecordOperationEventCommand extends Command<void> {
  constructor(
    readonly caller: CallerIdentity,
    readonly body: OperationEvent,
  ) {
    super();
  }
}

@CommandHandler(RecordOperationEventCommand)
export class RecordOperationEventHandler implements ICommandHandler<RecordOperationEventCommand, void> {
  constructor(private readonly appender: EventAppender) {}

  async execute({ caller, body }: RecordOperationEventCommand): Promise<void> {
    await this.appender.append(caller, [normalizeOperationEvent(body)]);
  }
}
