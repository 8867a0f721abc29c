import { PeriodicPass } from './periodic-pass.js';
import type { PartitionPass, RetentionRepository } from './retention.repository.js';

/** The partitions of `events` (docs/architecture.md#time-partitioned-log). */
export interface PartitionOptions {
  /** Partitions kept ready past the one holding now (`partitionOptions`: enough for PARTITIONS_AHEAD_DAYS). */
  ahead: number;
  /** A partition's width: PARTITION_WIDTH_DAYS; tests use seconds. */
  widthSeconds: number;
  /** A partition is dropped no sooner than this long after it ended: a transaction that began before its end may still append into it. */
  dropAfterSeconds: number;
}

/** How often partitions are made ahead when the reaper, which otherwise does it, is off. */
const AHEAD_ALONE_INTERVAL_SECONDS = 3_600;

/** A partition is dropped an hour after its end at the earliest. */
export const PARTITION_DROP_AFTER_SECONDS = 3_600;

/** Partitions `widthDays` wide (PARTITION_WIDTH_DAYS), as many ahead as cover `aheadDays` (PARTITIONS_AHEAD_DAYS). */
export function partitionOptions(widthDays: number, aheadDays: number): PartitionOptions {
  return { widthSeconds: widthDays * 86_400, ahead: Math.ceil(aheadDays / widthDays), dropAfterSeconds: PARTITION_DROP_AFTER_SECONDS };
}

export interface RowReaperOptions {
  /** ROW_REAP_INTERVAL_SECONDS: seconds between runs; 0: never. */
  intervalSeconds: number;
  /** ROW_REAP_BATCH_SIZE: rows (or sessions) per statement. */
  batchSize: number;
  partitions: PartitionOptions;
}

/** What one run did: partitions created and dropped, rows deleted. */
export interface ReapReport {
  partitions: PartitionPass;
  events: number;
  dedupeKeys: number;
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
  /** With the reaper off (interval 0) partitions must still be made ahead: hourly, that alone. */
  private readonly ahead: PeriodicPass<number | null>;

  constructor(
    private readonly repository: RetentionRepository,
    private readonly options: RowReaperOptions,
    private readonly log: { info(message: string): void; error(message: string): void },
  ) {
    this.periodic = new PeriodicPass(options.intervalSeconds, () => this.run(), {
      done: (r) => {
        if (r.partitions.created > 0 || r.partitions.dropped.length > 0) {
          log.info(`partitions of events: ${r.partitions.created} created, dropped ${r.partitions.dropped.join(', ') || 'none'}`);
        }
        if (r.events + r.dedupeKeys + r.messages + r.completions + r.sessions > 0) {
          log.info(
            `reaped ${r.events} events, ${r.dedupeKeys} dedupe keys, ${r.messages} messages, ${r.completions} compacted chunk runs, ${r.sessions} sessions`,
          );
        }
      },
      failed: (error) => log.error(`reap failed: ${(error as Error).message}`),
    });
    const { widthSeconds, ahead } = options.partitions;
    this.ahead = new PeriodicPass(
      options.intervalSeconds === 0 ? AHEAD_ALONE_INTERVAL_SECONDS : 0,
      () => repository.createPartitions(widthSeconds, ahead, false),
      {
        done: (created) => {
          if (created) log.info(`partitions of events: ${created} created`);
        },
        failed: (error) => log.error(`creating partitions failed: ${(error as Error).message}`),
      },
    );
  }

  start(): void {
    this.periodic.start();
    this.ahead.start();
  }

  /**
   * Start-up: the partition holding now and the next ones, before the broker listens, so that no
   * append lands in the DEFAULT partition. Waits for another replica doing the same.
   */
  async preparePartitions(): Promise<number> {
    const { ahead, widthSeconds } = this.options.partitions;
    try {
      return (await this.repository.createPartitions(widthSeconds, ahead, true)) ?? 0;
    } catch (error) {
      // The broker serves anyway: today's partition may well exist, else rows land in DEFAULT, which
      // `retention status` reports; the next pass tries again.
      this.log.error(`creating partitions at start-up failed: ${(error as Error).message}`);
      return 0;
    }
  }

  /** Stops the timer and waits for a pass in flight, so the pool can close after. */
  async stop(): Promise<void> {
    await Promise.all([this.periodic.stop(), this.ahead.stop()]);
  }

  /**
   * One run: partitions ahead created and expired ones dropped (skipped while another replica does
   * it), then expired events, dedupe keys, messages, compacted chunk runs and sessions, each until a
   * statement deletes less than a batch. A run already going is joined.
   */
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
    const partitions = await this.rotatePartitions();
    const events = await drain((b) => this.repository.reapExpiredEvents(b));
    const dedupeKeys = await drain((b) => this.repository.reapExpiredDedupeKeys(b));
    const messages = await drain((b) => this.repository.reapExpiredMessages(b));
    const completions = await drain((b) => this.repository.reapExpiredCompletions(b));
    const sessions = await drain((b) => this.repository.reapExpiredSessions(b));
    return { partitions, events, dedupeKeys, messages, completions, sessions };
  }

  /** A failure here (a lock not granted in time, a row in DEFAULT where a partition goes) is logged; the rows are reaped anyway. */
  private async rotatePartitions(): Promise<PartitionPass> {
    const { ahead, widthSeconds, dropAfterSeconds } = this.options.partitions;
    const pass: PartitionPass = { created: 0, dropped: [], skipped: false };
    try {
      const created = await this.repository.createPartitions(widthSeconds, ahead, false);
      if (created === null) return { ...pass, skipped: true };
      pass.created = created;
      for (;;) {
        if (this.periodic.stopping) break;
        const name = await this.repository.dropExpiredPartition(dropAfterSeconds);
        if (name === null) break;
        pass.dropped.push(name);
      }
    } catch (error) {
      this.log.error(`partitions of events: ${(error as Error).message} (the next pass tries again)`);
    }
    return pass;
  }
}
