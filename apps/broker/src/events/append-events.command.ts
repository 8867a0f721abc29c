import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { GroupCommitWriter, type AppendedEvent, type StreamEvent } from '#ark/event-store';
import { ApiError } from '#ark/http';
import { callerContext } from '#ark/tenancy';
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

  /** A caller bound to namespaces (an API key made with `--namespace`) writes only events of those, or of none. */
  execute(command: AppendEventsCommand): Promise<AppendedEvent[]> {
    const allowed = callerContext.current()?.namespaces;
    const outside = allowed && command.events.find((e) => e.event.namespace && !allowed.includes(e.event.namespace));
    if (outside) {
      return Promise.reject(
        new ApiError(403, 'namespace_forbidden', `this key may write namespaces ${allowed.join(', ')}, not ${JSON.stringify(outside.event.namespace)}`),
      );
    }
    // Queue wait plus the group-commit transaction that carried these events.
    return inSpan('append events', { 'ark.events': command.events.length }, () => this.writer.append(command.events));
  }
}
