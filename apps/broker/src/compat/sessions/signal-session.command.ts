import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender, SESSION_SIGNALLED } from '#ark/event-store';
import type { CallerIdentity } from '#ark/tenancy';

/** `POST /sessions`: an upstream session event (`{sessionId, queryName, _reason, …}`), applied as upstream does. */
export class SignalSessionCommand extends Command<void> {
  constructor(
    readonly caller: CallerIdentity,
    readonly sessionId: string,
    readonly body: unknown,
  ) {
    super();
  }
}

@CommandHandler(SignalSessionCommand)
export class SignalSessionHandler implements ICommandHandler<SignalSessionCommand, void> {
  constructor(private readonly appender: EventAppender) {}

  async execute({ caller, sessionId, body }: SignalSessionCommand): Promise<void> {
    // The entry's namespace (upstream's `queryNamespace`) is the event's, so a key bound to namespaces may only signal its own.
    const namespace = (body as { queryNamespace?: unknown }).queryNamespace;
    const event = { type: SESSION_SIGNALLED, source: 'api' as const, userId: caller.userId, data: body };
    await this.appender.append(caller, [{ sessionId, event: typeof namespace === 'string' && namespace !== '' ? { ...event, namespace } : event }]);
  }
}
