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

  /**
   * The spans are read back from the events just appended (or replayed) in this transaction, not
   * sent again: `data.span` is about half of an OTLP batch's bytes, and re-sending it as jsonb[]
   * parameters cost the broker the driver's array escaping and PostgreSQL a second JSON parse.
   * Per span the ended version wins; among equals the earliest.
   */
  private async upsert(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    const positions = events
      .filter((e) => e.source === 'otlp' && (e.data as { span?: OtlpSpan } | null)?.span)
      .map((e) => e.globalPosition);
    if (positions.length === 0) return;
    await sql`${PREPARED}
      INSERT INTO spans AS s (tenant_id, trace_id, span_id, parent_span_id, session_id, ark_session_id, name, kind,
                              start_time_unix_nano, end_time_unix_nano, status_code, status_message, attributes,
                              resource, scope, span_events, links, first_position)
      SELECT DISTINCT ON (e.tenant_id, x.sp->>'traceId', x.sp->>'spanId')
             e.tenant_id, x.sp->>'traceId', x.sp->>'spanId', x.sp->>'parentSpanId', e.session_id,
             CASE WHEN jsonb_typeof(x.sp->'attributes'->'ark.session.id') = 'string' THEN x.sp->'attributes'->>'ark.session.id' END,
             x.sp->>'name', (x.sp->>'kind')::int, x.sp->>'startTimeUnixNano', x.sp->>'endTimeUnixNano',
             (x.sp->'status'->>'code')::int, x.sp->'status'->>'message', x.sp->'attributes', x.sp->'resource',
             x.sp->'scope', x.sp->'events', x.sp->'links', e.global_position
      FROM events e CROSS JOIN LATERAL (SELECT e.data->'span' AS sp) x
      WHERE e.global_position = ANY(${positions}::bigint[])
      ORDER BY e.tenant_id, x.sp->>'traceId', x.sp->>'spanId', x.sp->>'endTimeUnixNano' IS NULL, e.global_position
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
