import { setTimeout as sleep } from 'node:timers/promises';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { BrokerConfig } from '#ark/config';
import type { CallerIdentity } from '#ark/tenancy';
import { ClaimRounds } from './claim-rounds.js';
import { ClaimWaiters } from './claim-waiters.js';
import { DEFAULT_LEASE_SECONDS, type ClaimQueriesDto } from './dto/executions.dto.js';
import { executionJson, type QueryExecutionJson } from './execution-json.js';
import { ExecutorSightings } from './executor-sightings.js';
import { servedNamespaces } from './served-namespaces.js';
import { TransitionPublisher } from './transition-publisher.js';

/** `POST /v2/executors/:executorId/claims`: up to `max` pending queries, waiting up to `waitSeconds` for one. */
export class ClaimQueriesCommand extends Command<QueryExecutionJson[]> {
  constructor(
    readonly caller: CallerIdentity,
    readonly executorId: string,
    readonly body: ClaimQueriesDto,
    /** The caller went away or the broker is shutting down: stop waiting (answer what was claimed: nothing). */
    readonly signal: AbortSignal,
  ) {
    super();
  }
}

@CommandHandler(ClaimQueriesCommand)
export class ClaimQueriesHandler implements ICommandHandler<ClaimQueriesCommand, QueryExecutionJson[]> {
  constructor(
    private readonly rounds: ClaimRounds,
    private readonly publisher: TransitionPublisher,
    private readonly waiters: ClaimWaiters,
    private readonly sightings: ExecutorSightings,
    private readonly config: BrokerConfig,
  ) {}

  async execute({ caller, executorId, body, signal }: ClaimQueriesCommand): Promise<QueryExecutionJson[]> {
    const namespaces = servedNamespaces(caller, body.namespaces);
    const deadline = Date.now() + (body.waitSeconds ?? 0) * 1000;
    for (let first = true; ; first = false) {
      // The executor hung up or the broker drains: take nothing more (it would wait for its lease to run out).
      if (!first && signal.aborted) return [];
      const remaining = deadline - Date.now();
      // Registered before looking, so a query made pending while we look still wakes this wait.
      const wait = remaining > 0 ? this.waiters.register(caller.tenantId, namespaces) : undefined;
      try {
        const recordSeen = this.sightings.due(caller.tenantId, executorId, namespaces);
        const rows = await this.rounds.claim(caller.tenantId, namespaces, {
          executorId,
          max: body.max ?? 1,
          leaseSeconds: body.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
          recordSeen,
        });
        if (rows.length > 0 || !wait) {
          // The claim is committed: its events follow (publishSoon), the executor need not wait for them.
          this.publisher.publishSoon(caller.tenantId, rows);
          return rows.map(executionJson);
        }
        // NOTIFY wakes it; the poll is the safety net behind a lost notification.
        await Promise.race([wait.woken, sleep(Math.min(remaining, this.config.WATCH_POLL_MS), undefined, { signal }).catch(() => undefined)]);
      } finally {
        wait?.cancel();
      }
    }
  }
}
