import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender } from '#ark/event-store';
import { MEMORY_SESSION_ID, messagesDeletedEvent, type MessagesDeletedData } from '#ark/normalizer';
import type { CallerIdentity } from '#ark/tenancy';

/**
 * Delete the caller's messages in a scope (a conversation, a query, both, or all) by appending a
 * `messages.deleted` tombstone: the log keeps every event (its sequences stay gap-free) and the
 * projector drops the messages, live and in any rebuild alike. Resolves once committed.
 */
export class DeleteMessagesCommand extends Command<void> {
  constructor(
    readonly caller: CallerIdentity,
    readonly scope: MessagesDeletedData,
  ) {
    super();
  }
}

@CommandHandler(DeleteMessagesCommand)
export class DeleteMessagesHandler implements ICommandHandler<DeleteMessagesCommand, void> {
  constructor(private readonly appender: EventAppender) {}

  async execute({ caller, scope }: DeleteMessagesCommand): Promise<void> {
    await this.appender.append(caller, [{ sessionId: MEMORY_SESSION_ID, event: messagesDeletedEvent(scope, caller.userId) }]);
  }
}
