import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender } from '#ark/event-store';
import { recordsDeletedEvent, type RecordsDeletedData } from '#ark/normalizer';
import type { CallerIdentity } from '#ark/tenancy';

/**
 * An upstream DELETE of a collection (or of one query's records in it): appends a `records.deleted`
 * tombstone. The log keeps every event; readers skip what the tombstone covers (DeletionsProjector).
 */
export class DeleteRecordsCommand extends Command<void> {
  constructor(
    readonly caller: CallerIdentity,
    readonly scope: RecordsDeletedData,
  ) {
    super();
  }
}

@CommandHandler(DeleteRecordsCommand)
export class DeleteRecordsHandler implements ICommandHandler<DeleteRecordsCommand, void> {
  constructor(private readonly appender: EventAppender) {}

  async execute({ caller, scope }: DeleteRecordsCommand): Promise<void> {
    await this.appender.append(caller, [recordsDeletedEvent(scope, caller.userId)]);
  }
}
