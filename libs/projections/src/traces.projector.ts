import { sql, type Transaction } from 'kysely';
import { PREPARED, type Database } from '#ark/database';
import type { ArkEvent, InlineProjector } from '#ark/event-store';
import { readRecordsDeleted } from '#ark/normalizer';

/**
 * `traces`: per trace, the position of its first span event above the tenant's latest `traces`
 * tombstone (migrations/0091), for GET /traces's newest-first pages. A tombstone deletes the traces
 * whose first event it covers; the batch is applied in log order around it, so a span after the
 * tombstone, in the same batch or later, starts its trace again from its own position.
 */
export class TracesProjector implements InlineProjector {
  readonly name = 'traces';
  readonly tables = ['traces'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    let spans: ArkEvent[] = [];
    for (const event of events) {
      if (event.source === 'otlp' && event.traceId) spans.push(event);
      else if (readRecordsDeleted(event)?.collection === 'traces') {
        await this.upsert(trx, spans);
        spans = [];
        await sql`DELETE FROM traces WHERE tenant_id = ${event.tenantId} AND first_position < ${event.globalPosition}`.execute(trx);
      }
    }
    await this.upsert(trx, spans);
  }

  private async upsert(trx: Transaction<Database>, spans: readonly ArkEvent[]): Promise<void> {
    if (spans.length === 0) return;
    const first = new Map<string, { tenantId: string; traceId: string; position: number }>();
    for (const e of spans) {
      const key = `${e.tenantId}\u0000${e.traceId}`;
      const known = first.get(key);
      if (!known || e.globalPosition < known.position) first.set(key, { tenantId: e.tenantId, traceId: e.traceId!, position: e.globalPosition });
    }
    // One row per key (ON CONFLICT may touch a row once per statement), in key order, so two batches
    // that share traces take their row locks in the same order.
    const rows = [...first.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
    await sql`${PREPARED}
      INSERT INTO traces AS r (tenant_id, trace_id, first_position)
      SELECT * FROM unnest(${rows.map((r) => r.tenantId)}::text[], ${rows.map((r) => r.traceId)}::text[], ${rows.map((r) => r.position)}::bigint[])
      ON CONFLICT (tenant_id, trace_id) DO UPDATE SET first_position = excluded.first_position
      WHERE excluded.first_position < r.first_position`.execute(trx);
  }
}
