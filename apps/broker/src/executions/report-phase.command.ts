import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ConflictError } from '#ark/errors';
import type { CallerIdentity } from '#ark/tenancy';
import type { HeartbeatDto, ReportPhaseDto } from './dto/executions.dto.js';
import { executionJson, type QueryExecutionJson } from './execution-json.js';
import { ExecutionRepository, type ExecutionRow } from './execution.repository.js';
import { visibleTo } from './served-namespaces.js';
import { TransitionPublisher } from './transition-publisher.js';

/** The heartbeat's answer: the lease now, and whether the executor should stop. */
export interface HeartbeatJson {
  phase: ExecutionRow['phase'];
  attempt: number;
  leaseExpiresAt: string | null;
  cancelRequested: boolean;
}

/** `POST /v2/queries/:id/heartbeat`: extends the lease of the executor's attempt. */
export class HeartbeatCommand extends Command<HeartbeatJson> {
  constructor(
    readonly caller: CallerIdentity,
    readonly queryId: string,
    readonly body: HeartbeatDto,
  ) {
    super();
  }
}

/** `POST /v2/queries/:id/phase`: the executor's attempt moves on (running, done, error, canceled). */
export class ReportPhaseCommand extends Command<QueryExecutionJson> {
  constructor(
    readonly caller: CallerIdentity,
    readonly queryId: string,
    readonly body: ReportPhaseDto,
  ) {
    super();
  }
}

/** Why a fenced call changed nothing: the attempt is not (anymore) the query's current assignment. */
function staleAttempt(queryId: string, executorId: string, attempt: number, row: ExecutionRow): ConflictError {
  return new ConflictError(
    `query ${queryId}: attempt ${attempt} of executor ${executorId} is not its current assignment ` +
      `(attempt ${row.attempt}${row.assigned_executor ? ` of ${row.assigned_executor}` : ''}, phase ${row.phase})`,
  );
}

@CommandHandler(HeartbeatCommand)
export class HeartbeatHandler implements ICommandHandler<HeartbeatCommand, HeartbeatJson> {
  constructor(private readonly repository: ExecutionRepository) {}

  async execute({ caller, queryId, body }: HeartbeatCommand): Promise<HeartbeatJson> {
    const scope = { tenantId: caller.tenantId };
    if (caller.namespaces) visibleTo(caller, queryId, await this.repository.find(scope, queryId));
    const row = await this.repository.heartbeat(scope, queryId, body.executorId, body.attempt, body.leaseSeconds);
    if (!row) throw staleAttempt(queryId, body.executorId, body.attempt, visibleTo(caller, queryId, await this.repository.find(scope, queryId)));
    return { phase: row.phase, attempt: row.attempt, leaseExpiresAt: row.lease_expires_at?.toISOString() ?? null, cancelRequested: row.cancel_requested };
  }
}

const PHASE_OF = { running: 'running', done: 'done', error: 'error', canceled: 'canceled' } as const;

@CommandHandler(ReportPhaseCommand)
export class ReportPhaseHandler implements ICommandHandler<ReportPhaseCommand, QueryExecutionJson> {
  constructor(
    private readonly repository: ExecutionRepository,
    private readonly publisher: TransitionPublisher,
  ) {}

  async execute({ caller, queryId, body }: ReportPhaseCommand): Promise<QueryExecutionJson> {
    const scope = { tenantId: caller.tenantId };
    if (caller.namespaces) visibleTo(caller, queryId, await this.repository.find(scope, queryId));
    const reason = body.phase === 'error' && typeof body.error === 'object' && body.error !== null ? (body.error as { reason?: unknown }).reason : undefined;
    const rows = await this.repository.report(scope, queryId, body.executorId, body.attempt, body.phase, {
      response: body.response,
      error: body.error,
      reason: typeof reason === 'string' ? reason.slice(0, 256) : undefined,
    });
    if (rows.length > 0) {
      await this.publisher.publish(caller.tenantId, rows);
      return executionJson(rows.at(-1)!);
    }
    const current = visibleTo(caller, queryId, await this.repository.find(scope, queryId));
    // The same report again (a retried request) is answered with the state it made.
    const repeated = current.attempt === body.attempt && current.assigned_executor === body.executorId && current.phase === PHASE_OF[body.phase];
    if (repeated) return executionJson(current);
    throw staleAttempt(queryId, body.executorId, body.attempt, current);
  }
}
