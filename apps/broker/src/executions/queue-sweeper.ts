import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BrokerConfig } from '#ark/config';
import { ExecutionRepository, type TransitionRow } from './execution.repository.js';
import { TransitionPublisher } from './transition-publisher.js';

/** Rows one statement of the sweeper moves. */
const SWEEP_BATCH = 1_000;
/** A transition not in the log this long after it committed is appended by the sweeper (its request died between the two). */
const PUBLISH_GRACE_SECONDS = 5;

/**
 * Runs on every replica every QUERY_SWEEP_INTERVAL_MS: leases that ran out (reassign or
 * ExecutorLost), pending queries past their TTL (Expired), and transitions whose event is not yet in
 * the log. Replicas sweeping at once skip each other's rows (FOR UPDATE SKIP LOCKED).
 */
@Injectable()
export class QueueSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('QueryExecutions');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly repository: ExecutionRepository,
    private readonly publisher: TransitionPublisher,
    private readonly config: BrokerConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.QUERY_SWEEP_INTERVAL_MS === 0) return;
    this.timer = setInterval(() => void this.sweepOnce(), this.config.QUERY_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass (a pass already running is joined). */
  sweepOnce(): Promise<void> {
    this.running ??= this.sweep()
      .catch((error: unknown) => this.logger.error(`query sweep failed: ${(error as Error).message}`))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweep(): Promise<void> {
    for (const tenantId of await this.repository.dueTenants(PUBLISH_GRACE_SECONDS)) {
      const scope = { tenantId };
      await this.drain(tenantId, () => this.repository.expireLeases(scope, SWEEP_BATCH));
      await this.drain(tenantId, () => this.repository.expireTtls(scope, SWEEP_BATCH));
      await this.drain(tenantId, () => this.repository.unpublished(scope, PUBLISH_GRACE_SECONDS, SWEEP_BATCH), true);
    }
  }

  private async drain(tenantId: string, step: () => Promise<TransitionRow[]>, once = false): Promise<void> {
    for (;;) {
      const rows = await step();
      await this.publisher.publish(tenantId, rows);
      if (once || rows.length < SWEEP_BATCH) return;
    }
  }
}
