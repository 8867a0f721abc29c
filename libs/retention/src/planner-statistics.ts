import { PeriodicPass } from './periodic-pass.js';
import type { PlannerStatisticsRepository } from './planner-statistics.repository.js';

export interface PlannerStatisticsOptions {
  /** ANALYZE_INTERVAL_SECONDS: seconds between passes; 0: never (leave it to autovacuum). */
  intervalSeconds: number;
}

/** A table is analyzed again once this share of its rows changed (autovacuum's default scale factor)… */
export const ANALYZE_CHANGED_SHARE = 0.1;
/** …and at least this many: fewer leave a small table's plans as they are. */
export const ANALYZE_MIN_CHANGES = 500;

/**
 * Keeps the planner's statistics of the broker's tables current (docs/architecture.md#planner-statistics):
 * at start and every interval, ANALYZEs each table that was never analyzed or changed by a share of
 * its rows since, one per statement. A table read before its first ANALYZE is planned with default
 * selectivities (a top-N read of a grown log became a scan and a sort, 50× slower), and the plans
 * the pooled connections cached stay until an ANALYZE invalidates them. Several replicas may run
 * it: one analyzes at a time, the others skip.
 */
export class PlannerStatistics {
  private readonly periodic: PeriodicPass<string[]>;

  constructor(
    private readonly repository: PlannerStatisticsRepository,
    options: PlannerStatisticsOptions,
    log: { debug(message: string): void; error(message: string): void },
  ) {
    this.periodic = new PeriodicPass(options.intervalSeconds, () => this.pass(), {
      done: (tables) => {
        if (tables.length > 0) log.debug(`analyzed ${tables.join(', ')}`);
      },
      failed: (error) => log.error(`analyze failed: ${(error as Error).message}`),
    });
  }

  start(): void {
    this.periodic.start();
  }

  /** Stops the timer and waits for a pass in flight, so the pool can close after. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One pass: the tables it analyzed. A pass already going is joined. */
  analyzeOnce(): Promise<string[]> {
    return this.periodic.once();
  }

  private async pass(): Promise<string[]> {
    const done: string[] = [];
    while (!this.periodic.stopping) {
      const table = await this.repository.analyzeStaleTable(ANALYZE_CHANGED_SHARE, ANALYZE_MIN_CHANGES, done);
      if (table === null) break;
      done.push(table);
    }
    return done;
  }
}
