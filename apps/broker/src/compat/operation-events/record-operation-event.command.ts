import { Command, CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { normalizeOperationEvent, type OperationEvent } from '#ark/normalizer';
import { AppendEventsCommand } from '../../events/append-events.command.js';

/** Store one operation event from Ark's controller. */
export class RecordOperationEventCommand extends Command<void> {
  constructor(
    readonly tenantId: string,
    readonly body: OperationEvent,
  ) {
    super();
  }
}

@CommandHandler(RecordOperationEventCommand)
export class RecordOperationEventHandler implements ICommandHandler<RecordOperationEventCommand, void> {
  constructor(private readonly commands: CommandBus) {}

  async execute({ tenantId, body }: RecordOperationEventCommand): Promise<void> {
    const { sessionId, event } = normalizeOperationEvent(body);
    await this.commands.execute(new AppendEventsCommand([{ tenantId, sessionId, event }]));
  }
}
