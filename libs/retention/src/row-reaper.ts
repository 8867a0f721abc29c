import { PeriodicPass } from './periodic-pass.js';
import type { RetentionRepository } from './retention.repository.js';

export interface RowReaperOptions {
  /** ROW_REAP_INTERVAL_SECONDS: seconds between runs; 0: never. */
  intervalSeconds: number;
  /** ROW_REAP_BATCH_SIZE: rows (or sessions) per statement. */
  batchSize: number;
}

/** What one run deleted. */
export interface ReapReport {
  events: number;
  messages: number;
  completions: number;
  sessions: number;
}

/**
 * Physically deletes what expired (docs/architecture.md#retention), at start and then every
 * interval, in statements of `batchSize` so no transaction holds many locks for long. Expired data
 * is already invisible; this only gives the space back. Several replicas may run it at once: the SQL
 * claims rows with SKIP LOCKED and sessions with a lock taken without waiting.
 */
export class RowReaper {
  private readonly periodic: PeriodicPass<ReapReport>;

  constructor(
    private readonly repository: RetentionRepository,
    private readonly options: RowReaperOptions,
    log: { info(message: string): void; error(message: string): void },
  ) {
    this.periodic = new PeriodicPass(options.intervalSeconds, () => this.run(), {
      done: (r) => {
        if (r.events + r.messages + r.completions + r.sessions > 0) {
          log.info(`reaped ${r.events} events, ${r.messages} messages, ${r.completions} compacted chunk runs, ${r.sessions} sessions`);
        }
      },
      failed: (error) => log.error(`reap failed: ${(error as Error).message}`),
    });
  }

  start(): void {
    this.periodic.start();
  }

  /** Stops the timer and waits for a pass in flight, so the pool can close after. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One run: events, then messages, compacted chunk runs, then sessions, each until a statement deletes less than a batch. A run already going is joined. */
  reapOnce(): Promise<ReapReport> {
    return this.periodic.once();
  }

  private async run(): Promise<ReapReport> {
    const { batchSize } = this.options;
    const drain = async (reap: (batch: number) => Promise<number>) => {
      let total = 0;
      for (;;) {
        if (this.periodic.stopping) return total;
        const n = await reap(batchSize);
        total += n;
        if (n < batchSize) return total;
      }
    };
    const events = await drain((b) => this.repository.reapExpiredEvents(b));
    const messages = await drain((b) => this.repository.reapExpiredMessages(b));
    const completions = await drain((b) => this.repository.reapExpiredCompletions(b));
    const sessions = await drain((b) => this.repository.reapExpiredSessions(b));
    return { events, messages, completions, sessions };
  }
}
