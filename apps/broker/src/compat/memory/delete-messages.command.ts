import { Command, CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { MEMORY_SESSION_ID, messagesDeletedEvent, type MessagesDeletedData } from '#ark/normalizer';
import { AppendEventsCommand } from '../../events/append-events.command.js';

/**
 * Delete the caller's messages in a scope (a conversation, a query, both, or all) by appending a
 * `messages.deleted` tombstone: the log keeps every event (its sequences stay gap-free) and the
 * projector drops the messages, live and in any rebuild alike. Resolves once committed.
 */
export class DeleteMessagesCommand extends Command<void> {
  constructor(
    readonly tenantId: string,
    readonly userId: string,
    readonly scope: MessagesDeletedData,
  ) {
    super();
  }
}

@CommandHandler(DeleteMessagesCommand)
export class DeleteMessagesHandler implements ICommandHandler<DeleteMessagesCommand, void> {
  constructor(private readonly commands: CommandBus) {}

  async execute({ tenantId, userId, scope }: DeleteMessagesCommand): Promise<void> {
    await this.commands.execute(new AppendEventsCommand([{ tenantId, sessionId: MEMORY_SESSION_ID, event: messagesDeletedEvent(scope, userId) }]));
  }
}
