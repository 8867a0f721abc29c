import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ConflictError } from '#ark/errors';
import type { CallerIdentity } from '#ark/tenancy';
import { executionJson, type QueryExecutionJson } from './execution-json.js';
import { ExecutionRepository } from './execution.repository.js';
import { visibleTo } from './served-namespaces.js';
import { TransitionPublisher } from './transition-publisher.js';

/** `POST /v2/queries/:id/cancel`: pending ends at once; assigned or running is asked to stop (heartbeat). */
export class CancelQueryCommand extends Command<QueryExecutionJson> {
  constructor(
    readonly caller: CallerIdentity,
    readonly queryId: string,
  ) {
    super();
  }
}

/** `POST /v2/queries/:id/retry`: an `error` or `canceled` query goes back to pending with one more attempt. */
export class RetryQueryCommand extends Command<QueryExecutionJson> {
  constructor(
    readonly caller: CallerIdentity,
    readonly queryId: string,
  ) {
    super();
  }
}

@CommandHandler(CancelQueryCommand)
export class CancelQueryHandler implements ICommandHandler<CancelQueryCommand, QueryExecutionJson> {
  constructor(
    private readonly repository: ExecutionRepository,
    private readonly publisher: TransitionPublisher,
  ) {}

  async execute({ caller, queryId }: CancelQueryCommand): Promise<QueryExecutionJson> {
    const scope = { tenantId: caller.tenantId };
    if (caller.namespaces) visibleTo(caller, queryId, await this.repository.find(scope, queryId));
    const rows = await this.repository.cancel(scope, queryId);
    if (rows.length > 0) {
      await this.publisher.publish(caller.tenantId, rows);
      return executionJson(rows.at(-1)!);
    }
    // Ended already, or its cancel was requested already: nothing more to do.
    return executionJson(visibleTo(caller, queryId, await this.repository.find(scope, queryId)));
  }
}

@CommandHandler(RetryQueryCommand)
export class RetryQueryHandler implements ICommandHandler<RetryQueryCommand, QueryExecutionJson> {
  constructor(
    private readonly repository: ExecutionRepository,
    private readonly publisher: TransitionPublisher,
  ) {}

  async execute({ caller, queryId }: RetryQueryCommand): Promise<QueryExecutionJson> {
    const scope = { tenantId: caller.tenantId };
    if (caller.namespaces) visibleTo(caller, queryId, await this.repository.find(scope, queryId));
    const rows = await this.repository.retry(scope, queryId);
    if (rows.length > 0) {
      await this.publisher.publish(caller.tenantId, rows);
      return executionJson(rows.at(-1)!);
    }
    const current = visibleTo(caller, queryId, await this.repository.find(scope, queryId));
    throw new ConflictError(`query ${queryId} is ${current.phase}: only an error or canceled query can be retried`);
  }
}
