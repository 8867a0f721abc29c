import { sql, type Transaction } from 'kysely';
import { PREPARED, type Database } from '#ark/database';
import type { ArkEvent, InlineProjector } from '#ark/event-store';
import { readRecordsDeleted } from '#ark/normalizer';
import type { OtlpSpan } from '#ark/otlp';

/**
 * `spans`: the raw spans behind `otlp` events (their `data.span`), one row per span. A start and an
 * end may arrive in any order and even in one batch; the ended version always wins. A `traces`
 * tombstone (upstream `DELETE /traces`) removes the tenant's spans before it.
 */
export class SpansProjector implements InlineProjector {
  readonly name = 'spans';
  readonly tables = ['spans'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    await this.upsert(trx, events);
    // After the upsert: a tombstone covers the spans before it, including ones in this same batch.
    for (const event of events) {
      if (readRecordsDeleted(event)?.collection !== 'traces') continue;
      await sql`DELETE FROM spans WHERE tenant_id = ${event.tenantId} AND first_position < ${event.globalPosition}`.execute(trx);
    }
  }

  private async upsert(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    const latest = new Map<string, { event: ArkEvent; span: OtlpSpan }>();
    for (const event of events) {
      if (event.source !== 'otlp') continue;
      const span = (event.data as { span?: OtlpSpan }).span;
      if (!span) continue;
      const key = `${event.tenantId}\u0000${span.traceId}\u0000${span.spanId}`;
      const seen = latest.get(key);
      if (!seen || (seen.span.endTimeUnixNano === null && span.endTimeUnixNano !== null)) latest.set(key, { event, span });
    }
    if (latest.size === 0) return;
    const rows = [...latest.values()];
    const col = <T>(pick: (r: { event: ArkEvent; span: OtlpSpan }) => T) => rows.map(pick);
    const json = (v: unknown) => JSON.stringify(v);
    await sql`${PREPARED}
      INSERT INTO spans AS s (tenant_id, trace_id, span_id, parent_span_id, session_id, ark_session_id, name, kind,
                              start_time_unix_nano, end_time_unix_nano, status_code, status_message, attributes,
                              resource, scope, span_events, links, first_position)
      SELECT * FROM unnest(
        ${col((r) => r.event.tenantId)}::text[], ${col((r) => r.span.traceId)}::text[], ${col((r) => r.span.spanId)}::text[],
        ${col((r) => r.span.parentSpanId)}::text[], ${col((r) => r.event.sessionId)}::text[],
        ${col((r) => (typeof r.span.attributes['ark.session.id'] === 'string' ? r.span.attributes['ark.session.id'] : null))}::text[],
        ${col((r) => r.span.name)}::text[], ${col((r) => r.span.kind)}::int[],
        ${col((r) => r.span.startTimeUnixNano)}::text[], ${col((r) => r.span.endTimeUnixNano)}::text[],
        ${col((r) => r.span.status.code)}::int[], ${col((r) => r.span.status.message)}::text[],
        ${col((r) => json(r.span.attributes))}::jsonb[], ${col((r) => json(r.span.resource))}::jsonb[],
        ${col((r) => json(r.span.scope))}::jsonb[], ${col((r) => json(r.span.events))}::jsonb[],
        ${col((r) => json(r.span.links))}::jsonb[], ${col((r) => r.event.globalPosition)}::bigint[])
      ON CONFLICT (tenant_id, trace_id, span_id) DO UPDATE SET
        parent_span_id = excluded.parent_span_id, session_id = excluded.session_id, ark_session_id = excluded.ark_session_id,
        name = excluded.name, kind = excluded.kind, start_time_unix_nano = excluded.start_time_unix_nano,
        end_time_unix_nano = excluded.end_time_unix_nano, status_code = excluded.status_code,
        status_message = excluded.status_message, attributes = excluded.attributes, resource = excluded.resource,
        scope = excluded.scope, span_events = excluded.span_events, links = excluded.links,
        first_position = least(s.first_position, excluded.first_position)
      -- a late start must not undo an end
      WHERE excluded.end_time_unix_nano IS NOT NULL OR s.end_time_unix_nano IS NULL`.execute(trx);
  }

}
