import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BrokerConfig } from '#ark/config';
import { PeriodicPass } from '#ark/retention';
import { ExecutionRepository } from './execution.repository.js';

/** An executor not heard from this long and holding no query is forgotten (its row in `query_executors`). */
const EXECUTOR_IDLE_SECONDS = 3_600;

/** What one pass did. */
export interface QueueUpkeepReport {
  sessionsKeptOpen: number;
  executorsForgotten: number;
}

/**
 * Runs on every replica at start and every QUERY_UPKEEP_INTERVAL_SECONDS: keeps the sessions of
 * unfinished queries from expiring (each due within two intervals is given four), so a query waiting
 * or running longer than its session's TTL never disappears from the session reads, and forgets
 * executors idle for EXECUTOR_IDLE_SECONDS. Both statements are idempotent, so replicas running
 * them at once only repeat each other.
 */
@Injectable()
export class QueueUpkeep implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('QueryExecutions');
  private readonly periodic: PeriodicPass<QueueUpkeepReport>;

  constructor(
    private readonly repository: ExecutionRepository,
    config: BrokerConfig,
  ) {
    const interval = config.QUERY_UPKEEP_INTERVAL_SECONDS;
    this.periodic = new PeriodicPass(
      interval,
      async () => ({
        sessionsKeptOpen: await this.repository.keepWorkingSessionsOpen(2 * interval, 4 * interval),
        executorsForgotten: await this.repository.forgetIdleExecutors(EXECUTOR_IDLE_SECONDS),
      }),
      {
        done: (r) => {
          if (r.executorsForgotten > 0) this.logger.log(`forgot ${r.executorsForgotten} executors idle for ${EXECUTOR_IDLE_SECONDS} s`);
        },
        failed: (error) => this.logger.error(`query queue upkeep failed: ${(error as Error).message}`),
      },
    );
  }

  onApplicationBootstrap(): void {
    this.periodic.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.periodic.stop();
  }

  /** One pass (a pass already running is joined). */
  upkeepOnce(): Promise<QueueUpkeepReport> {
    return this.periodic.once();
  }
}
