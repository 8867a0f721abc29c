import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { GroupCommitWriter, type AppendedEvent, type StreamEvent } from '#ark/event-store';
import { inSpan } from '#ark/tracing';

/** Append one caller's events (any sessions of one tenant) atomically. */
export class AppendEventsCommand extends Command<AppendedEvent[]> {
  constructor(readonly events: readonly StreamEvent[]) {
    super();
  }
}

@CommandHandler(AppendEventsCommand)
export class AppendEventsHandler implements ICommandHandler<AppendEventsCommand, AppendedEvent[]> {
  constructor(private readonly writer: GroupCommitWriter) {}

  execute(command: AppendEventsCommand): Promise<AppendedEvent[]> {
    // Queue wait plus the group-commit transaction that carried these events.
    return inSpan('append events', { 'ark.events': command.events.length }, () => this.writer.append(command.events));
  }
}
