import { isDeepStrictEqual } from 'node:util';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ConflictError, NamespaceForbiddenError } from '#ark/errors';
import type { CallerIdentity } from '#ark/tenancy';
import { ClaimWaiters } from './claim-waiters.js';
import { DEFAULT_MAX_ATTEMPTS, type SubmitQueryDto } from './dto/executions.dto.js';
import { executionJson, type QueryExecutionJson } from './execution-json.js';
import { ExecutionRepository } from './execution.repository.js';
import { TransitionPublisher } from './transition-publisher.js';

/** `POST /v2/queries`: a query for executors, idempotent by its UID. */
export class SubmitQueryCommand extends Command<{ created: boolean; query: QueryExecutionJson }> {
  constructor(
    readonly caller: CallerIdentity,
    readonly body: SubmitQueryDto,
  ) {
    super();
  }
}

@CommandHandler(SubmitQueryCommand)
export class SubmitQueryHandler implements ICommandHandler<SubmitQueryCommand, { created: boolean; query: QueryExecutionJson }> {
  constructor(
    private readonly repository: ExecutionRepository,
    private readonly publisher: TransitionPublisher,
    private readonly waiters: ClaimWaiters,
  ) {}

  async execute({ caller, body }: SubmitQueryCommand): Promise<{ created: boolean; query: QueryExecutionJson }> {
    if (caller.namespaces && !caller.namespaces.includes(body.namespace)) throw new NamespaceForbiddenError(caller.namespaces, body.namespace);
    const sessionId = body.sessionId ?? body.queryId;
    const request = {
      name: body.name,
      namespace: body.namespace,
      sessionId,
      target: { type: body.target.type, name: body.target.name },
      input: body.input,
      ttlSeconds: body.ttlSeconds ?? null,
      reassign: body.reassign ?? 'auto',
      maxAttempts: body.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    };
    const scope = { tenantId: caller.tenantId };
    const { created, existing } = await this.repository.submit(
      scope,
      { queryId: body.queryId, userId: caller.userId, ...request, request },
      this.waiters.origin,
    );
    if (created) {
      // Committed: an executor waiting here claims it now, while the submit's event is appended.
      this.waiters.wake(caller.tenantId, [body.namespace], 1);
      await this.publisher.publish(caller.tenantId, [created]);
      return { created: true, query: executionJson(created) };
    }
    // Taken: the same submission again (a retried request) is answered as it was; another is refused.
    if (!existing || !isDeepStrictEqual(existing.request, JSON.parse(JSON.stringify(request)))) {
      throw new ConflictError(`query ${body.queryId} was already submitted with another body`);
    }
    return { created: false, query: executionJson(existing) };
  }
}
