import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { ReadScope } from '#ark/database';
import { EventAppender } from '#ark/event-store';
import { fallbackSessionId, normalizeMessages, type PostedMessages } from '#ark/normalizer';
import type { CallerIdentity } from '#ark/tenancy';
import { MemoryRepository, type QueryOwner } from './memory.repository.js';

/** Store a `POST /messages` body as `message.added` events, in one atomic append; resolves once committed. */
export class PostMessagesCommand extends Command<void> {
  constructor(
    readonly caller: CallerIdentity,
    readonly posted: PostedMessages,
  ) {
    super();
  }
}

@CommandHandler(PostMessagesCommand)
export class PostMessagesHandler implements ICommandHandler<PostMessagesCommand, void> {
  constructor(
    private readonly appender: EventAppender,
    private readonly memory: MemoryRepository,
  ) {}

  async execute({ caller, posted }: PostMessagesCommand): Promise<void> {
    // The command's own lookups see the whole tenant.
    const tenant = { tenantId: caller.tenantId };
    if (posted.messages.length === 0) return;
    const owner = posted.queryId === '' ? undefined : await this.memory.findQueryOwner(tenant, posted.queryId);
    const events = normalizeMessages(posted, {
      queryId: owner?.queryId ?? null,
      queryName: owner?.queryName ?? null,
      namespace: owner?.namespace ?? null,
      userId: caller.userId,
    });
    const sessionId = await this.sessionFor(tenant, posted, owner, events[0]!.dedupeKey ?? null);
    await this.appender.append(
      caller,
      events.map((event) => ({ sessionId, event })),
    );
  }

  /**
   * The session that owns the query, else the conversation's own. Dedupe keys are unique per session,
   * so a retry must land where its first copy did: when the owner became known in between, the
   * first copy is in the conversation's session.
   */
  private async sessionFor(tenant: ReadScope, posted: PostedMessages, owner: QueryOwner | undefined, dedupeKey: string | null): Promise<string> {
    const fallback = fallbackSessionId(posted);
    if (!owner) return fallback;
    if (dedupeKey === null || owner.sessionId === fallback) return owner.sessionId;
    return (await this.memory.sessionHolds(tenant, fallback, dedupeKey)) ? fallback : owner.sessionId;
  }
}
