import { sql, type Selectable } from 'kysely';
import type { EventsTable } from '#ark/database';
import type { ArkEvent, ArkEventJson, EventSource, StreamEvent } from './ark-event.js';
import { JsonText } from './json-text.js';

/**
 * The event row, once: every column of `events` (migrations/0001; Kysely's EventsTable must name
 * exactly these), in table order, with the ArkEvent field it becomes, whether an appender writes it
 * (the rest are the database's defaults) and its key in the JSON batch `ark_append_events` reads
 * (migrations/functions/ark_append_events.sql; `sequence` is handed out there). test/event-row.test.ts
 * checks this against the table, its source CHECK and the function.
 */
export const EVENT_ROW = {
  tenant_id: { field: 'tenantId', written: true, batchKey: 't' },
  session_id: { field: 'sessionId', written: true, batchKey: 's' },
  sequence: { field: 'sequence', written: true, batchKey: null },
  global_position: { field: 'globalPosition', written: false, batchKey: null },
  transaction_id: { field: 'transactionId', written: false, batchKey: null },
  type: { field: 'type', written: true, batchKey: 'y' },
  time: { field: 'time', written: true, batchKey: 'at' },
  recorded_at: { field: 'recordedAt', written: false, batchKey: null },
  query_id: { field: 'queryId', written: true, batchKey: 'q' },
  query_name: { field: 'queryName', written: true, batchKey: 'qn' },
  namespace: { field: 'namespace', written: true, batchKey: 'ns' },
  user_id: { field: 'userId', written: true, batchKey: 'u' },
  trace_id: { field: 'traceId', written: true, batchKey: 'tr' },
  span_id: { field: 'spanId', written: true, batchKey: 'sp' },
  parent_span_id: { field: 'parentSpanId', written: true, batchKey: 'ps' },
  source: { field: 'source', written: true, batchKey: 'src' },
  dedupe_key: { field: 'dedupeKey', written: true, batchKey: 'dk' },
  data: { field: 'data', written: true, batchKey: 'd' },
  expires_at: { field: 'expiresAt', written: true, batchKey: 'ex' },
  data_bytes: { field: 'dataBytes', written: true, batchKey: 'db' },
} as const satisfies { [C in keyof EventsTable]: { field: keyof ArkEvent; written: boolean; batchKey: string | null } };

export type EventColumn = keyof typeof EVENT_ROW;
/** The columns of `events` in table order. */
export const EVENT_COLUMNS = Object.keys(EVENT_ROW) as EventColumn[];
/** The columns an appender supplies, in table order (the others are defaults). */
export const EVENT_WRITTEN_COLUMNS = EVENT_COLUMNS.filter((c) => EVENT_ROW[c].written);

/** A row of `events` as selected with EVENT_SELECT (transaction_id, an xid8, as its decimal text). */
export type EventRow = Selectable<EventsTable>;

/** The select list of an EventRow. */
export const EVENT_SELECT = sql.raw(EVENT_COLUMNS.map((c) => (c === 'transaction_id' ? 'transaction_id::text AS transaction_id' : c)).join(', '));

/**
 * The columns of an EventRow from `alias`, a subquery that selected EVENT_SELECT; with `dataAsText`
 * its data as JSON text (toArkEvent keeps it a JsonText). Rendered at this outer level, a row is
 * rendered only once the budget kept it.
 */
export function eventColumnsOf(alias: string, dataAsText: boolean) {
  return sql.raw(EVENT_COLUMNS.map((c) => (c === 'data' && dataAsText ? `${alias}.data::text AS data` : `${alias}.${c}`)).join(', '));
}

type BatchKey = { [C in EventColumn]: (typeof EVENT_ROW)[C]['batchKey'] }[EventColumn] & string;
/** One row of the `batch` argument of ark_append_events: `i` its index in the call, then a key per written column but `sequence`. */
export type AppendBatchRow = { i: number } & { [K in BatchKey]: unknown };

/** The `batch` argument of ark_append_events for these events, in order, and the bytes of each one's data. */
export function toAppendBatch(items: readonly StreamEvent[]): { batch: string; dataBytes: number[] } {
  const dataBytes: number[] = [];
  const rows = items.map(({ tenantId, sessionId, event: e }, i) => {
    const data = JSON.stringify(e.data ?? null);
    dataBytes.push(Buffer.byteLength(data));
    const row: Omit<AppendBatchRow, 'd'> = {
      i,
      t: tenantId,
      s: sessionId,
      y: e.type,
      at: e.time?.toISOString() ?? null,
      q: e.queryId ?? null,
      qn: e.queryName ?? null,
      ns: e.namespace ?? null,
      u: e.userId ?? null,
      tr: e.traceId ?? null,
      sp: e.spanId ?? null,
      ps: e.parentSpanId ?? null,
      src: e.source,
      dk: e.dedupeKey ?? null,
      ex: e.ttlSeconds ?? null,
      db: dataBytes[i],
    };
    // The data is spliced in as the text just measured, so it is serialised once.
    return `${JSON.stringify(row).slice(0, -1)},"d":${data}}`;
  });
  return { batch: `[${rows.join(',')}]`, dataBytes };
}

/** `expires_at = 'infinity'` (an event appended without a TTL): node-postgres reads it as the number Infinity. */
export const NEVER_EXPIRES = new Date(8_640_000_000_000_000);

/** When an event recorded at `recordedAt` with this TTL expires, as ark_append_events computes it. */
export function expiryOf(ttlSeconds: number | null | undefined, recordedAt: Date): Date {
  return ttlSeconds === undefined || ttlSeconds === null ? NEVER_EXPIRES : new Date(recordedAt.getTime() + ttlSeconds * 1000);
}

/** What ark_append_events answers for a new row: the columns the database filled in. */
export interface AppendedColumns {
  sequence: number;
  globalPosition: number;
  transactionId: string;
  recordedAt: Date;
  expiresAt: Date;
  dataBytes: number;
}

/** The stored event an append wrote, without reading it back: the input plus what the database filled in. */
export function appendedEvent({ tenantId, sessionId, event: e }: StreamEvent, stored: AppendedColumns): ArkEvent {
  return {
    tenantId,
    sessionId,
    sequence: stored.sequence,
    globalPosition: stored.globalPosition,
    transactionId: stored.transactionId,
    type: e.type,
    time: e.time ?? stored.recordedAt,
    recordedAt: stored.recordedAt,
    queryId: e.queryId ?? null,
    queryName: e.queryName ?? null,
    namespace: e.namespace ?? null,
    userId: e.userId ?? null,
    traceId: e.traceId ?? null,
    spanId: e.spanId ?? null,
    parentSpanId: e.parentSpanId ?? null,
    source: e.source,
    dedupeKey: e.dedupeKey ?? null,
    data: e.data ?? null,
    expiresAt: stored.expiresAt,
    dataBytes: stored.dataBytes,
  };
}

/** `dataAsText`: the row's data was read as text (eventColumnsOf), and stays that text (JsonText). */
export function toArkEvent(r: EventRow, dataAsText = false): ArkEvent {
  return {
    tenantId: r.tenant_id,
    sessionId: r.session_id,
    sequence: r.sequence,
    globalPosition: r.global_position,
    transactionId: r.transaction_id,
    type: r.type,
    time: r.time,
    recordedAt: r.recorded_at,
    queryId: r.query_id,
    queryName: r.query_name,
    namespace: r.namespace,
    userId: r.user_id,
    traceId: r.trace_id,
    spanId: r.span_id,
    parentSpanId: r.parent_span_id,
    source: r.source as EventSource,
    dedupeKey: r.dedupe_key,
    data: dataAsText && typeof r.data === 'string' ? new JsonText(r.data) : r.data,
    expiresAt: r.expires_at instanceof Date ? r.expires_at : NEVER_EXPIRES,
    dataBytes: r.data_bytes,
  };
}

/** The public JSON shape (docs/events.md#1-the-event): every field but the transaction id and dedupe key, times as ISO text, `id` the global position. */
export function toArkEventJson(event: ArkEvent): ArkEventJson {
  return {
    id: String(event.globalPosition),
    tenantId: event.tenantId,
    sessionId: event.sessionId,
    sequence: event.sequence,
    globalPosition: event.globalPosition,
    type: event.type,
    time: event.time.toISOString(),
    recordedAt: event.recordedAt.toISOString(),
    queryId: event.queryId,
    queryName: event.queryName,
    namespace: event.namespace,
    userId: event.userId,
    traceId: event.traceId,
    spanId: event.spanId,
    parentSpanId: event.parentSpanId,
    source: event.source,
    data: event.data,
  };
}
