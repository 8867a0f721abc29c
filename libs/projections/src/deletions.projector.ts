import type { Transaction } from 'kysely';
import type { Database } from '#ark/database';
import type { ArkEvent, InlineProjector } from '#ark/event-store';
import { readRecordsDeleted } from '#ark/normalizer';

/**
 * `deletions`: one row per `records.deleted` tombstone. Readers of log-backed collections skip what a
 * deletion covers (operation events, traces, …).
 */
export class DeletionsProjector implements InlineProjector {
  readonly name = 'deletions';
  readonly tables = ['deletions'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    const rows = events.flatMap((e) => {
      const scope = readRecordsDeleted(e);
      return scope ? [{ tenant_id: e.tenantId, scope: scope.collection, query_id: scope.queryId ?? null, up_to_position: e.globalPosition }] : [];
    });
    if (rows.length > 0)
      await trx
        .insertInto('deletions')
        .values(rows)
        .onConflict((c) => c.doNothing())
        .execute();
  }
}
