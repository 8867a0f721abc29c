import type { Kysely } from 'kysely';
import type { Database } from '#ark/database';
import { EventLogRepository, type InlineProjector } from '#ark/event-store';

export interface RebuildReport {
  projectors: string[];
  events: number;
  ms: number;
}

/**
 * Replays the whole log through the inline projectors, in one transaction. Each projector's `reset`
 * truncates its tables, which takes their ACCESS EXCLUSIVE lock: appenders wait at their projection
 * step until the rebuild commits and then apply their own events on top, so none is lost or counted
 * twice (events committed before the lock are read by the replay, the rest are not yet visible).
 */
export class ProjectionRebuilder {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly projectors: readonly InlineProjector[],
  ) {}

  async rebuild(batchSize = 5_000): Promise<RebuildReport> {
    const started = performance.now();
    let events = 0;
    await this.db.transaction().execute(async (trx) => {
      for (const p of this.projectors) await p.reset(trx);
      for await (const batch of new EventLogRepository(trx).readAll(batchSize)) {
        for (const p of this.projectors) await p.project(trx, batch);
        events += batch.length;
      }
    });
    return { projectors: this.projectors.map((p) => p.name), events, ms: performance.now() - started };
  }
}
