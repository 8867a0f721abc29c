import { PeriodicPass } from './periodic-pass.js';
import type { ChunkCompactionRepository } from './chunk-compaction.repository.js';

export interface ChunkCompactorOptions {
  /** CHUNK_COMPACTION_INTERVAL_SECONDS: seconds between passes; 0: never. */
  intervalSeconds: number;
  /** CHUNK_COMPACTION_DELAY_SECONDS: how long after its end a run is folded. */
  delaySeconds: number;
  /** COMPACTED_CHUNK_TTL_SECONDS: how long a folded raw chunk stays at most (the reaper deletes it then). */
  rawTtlSeconds: number;
  /** Runs per statement that lists them. */
  batchSize: number;
}

/** What one pass folded. */
export interface CompactionReport {
  runs: number;
  chunks: number;
}

/**
 * A run's end committed this long after it was stamped (recorded_at is its transaction's start) is
 * still found: each pass looks back this far past the newest end it folded.
 */
const LATE_COMMIT_MARGIN_MS = 10 * 60_000;

/**
 * Compaction (docs/architecture.md#compaction): every interval, folds the chunk runs that ended at
 * least the delay ago into `llm_completions` rows. Safe with several replicas: a run is folded under
 * a lock taken without waiting, and a folded chunk is never folded again.
 */
export class ChunkCompactor {
  private readonly periodic: PeriodicPass<CompactionReport>;
  /** Ends up to this time were all looked at (minus the margin); the first pass looks at every end. */
  private since = new Date(0);

  constructor(
    private readonly repository: ChunkCompactionRepository,
    private readonly options: ChunkCompactorOptions,
    log: { info(message: string): void; error(message: string): void },
  ) {
    this.periodic = new PeriodicPass(options.intervalSeconds, () => this.pass(), {
      done: (r) => {
        if (r.runs > 0) log.info(`compacted ${r.chunks} chunks of ${r.runs} runs`);
      },
      failed: (error) => log.error(`compaction failed: ${(error as Error).message}`),
    });
  }

  start(): void {
    this.periodic.start();
  }

  /** Stops the timer and waits for a pass in flight, so the pool can close after. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One pass over the runs due; a pass already going is joined. */
  compactOnce(): Promise<CompactionReport> {
    return this.periodic.once();
  }

  private async pass(): Promise<CompactionReport> {
    const { delaySeconds, rawTtlSeconds, batchSize } = this.options;
    const report: CompactionReport = { runs: 0, chunks: 0 };
    let since = this.since;
    let newest = this.since;
    for (;;) {
      if (this.periodic.stopping) return report;
      const runs = await this.repository.runsToCompact(since, delaySeconds, batchSize);
      for (const run of runs) {
        const outcome = await this.repository.compactRun(run, rawTtlSeconds);
        if ('folded' in outcome) {
          report.runs += 1;
          report.chunks += outcome.folded;
        }
        if (run.endedAt > newest) newest = run.endedAt;
      }
      if (runs.length < batchSize) break;
      // Runs skipped (busy, mixed) stay behind; the next statement starts after the last end listed.
      since = runs.at(-1)!.endedAt;
    }
    this.since = new Date(Math.max(this.since.getTime(), newest.getTime() - LATE_COMMIT_MARGIN_MS));
    return report;
  }
}
