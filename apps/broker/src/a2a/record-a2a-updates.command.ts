import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender, type AppendedEvent } from '#ark/event-store';
import { InvalidArgumentError, NotFoundError } from '#ark/errors';
import { A2aPayloadError, normalizeA2aUpdate } from '#ark/normalizer';
import type { CallerIdentity } from '#ark/tenancy';
import { QueryRepository } from '../sessions-v2/query.repository.js';

/** `POST /v2/queries/:queryId/a2a`: A2A task updates of a query's remote agent, as `a2a.task.*` events of the query's session. */
export class RecordA2aUpdatesCommand extends Command<AppendedEvent[]> {
  constructor(
    readonly caller: CallerIdentity,
    readonly queryId: string,
    readonly payloads: readonly unknown[],
  ) {
    super();
  }
}

@CommandHandler(RecordA2aUpdatesCommand)
export class RecordA2aUpdatesHandler implements ICommandHandler<RecordA2aUpdatesCommand, AppendedEvent[]> {
  constructor(
    private readonly appender: EventAppender,
    private readonly queries: QueryRepository,
  ) {}

  async execute({ caller, queryId, payloads }: RecordA2aUpdatesCommand): Promise<AppendedEvent[]> {
    const events = payloads.flatMap((payload, i) => {
      try {
        return normalizeA2aUpdate(payload);
      } catch (error) {
        if (!(error instanceof A2aPayloadError)) throw error;
        throw new InvalidArgumentError(payloads.length > 1 ? `[${i}]: ${error.message}` : error.message);
      }
    });
    // The producer's tenant, whoever owns the session (producers write any session of their tenant).
    const query = await this.queries.find({ tenantId: caller.tenantId }, queryId);
    if (!query) throw new NotFoundError(`query ${queryId} not found`);
    return this.appender.append(
      caller,
      events.map((event) => ({
        sessionId: query.session_id,
        event: { ...event, queryId: query.query_id ?? undefined, queryName: query.query_name ?? undefined, namespace: query.namespace ?? undefined },
      })),
    );
  }
}
