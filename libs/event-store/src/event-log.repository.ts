import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '#ark/database';
import type { AppendedEvent, ArkEvent, EventSource, StreamEvent } from './ark-event.js';
import type { FeedCursor } from './feed-cursor.js';

/** Channel of the one NOTIFY each appending transaction sends. */
export const EVENTS_CHANNEL = 'ark_events';
/** PostgreSQL rejects NOTIFY payloads of 8000 bytes or more; stay well below. */
const MAX_NOTIFY_PAYLOAD = 7_500;

/** Wake-up sent on commit: the transaction and the last sequence it wrote per session. Never event data. */
export interface AppendNotification {
  /** xid8 of the committed transaction. */
  tx: string;
  /** [tenant, session, last sequence] per session written; omitted when it would not fit. */
  s?: [string, string, number][];
  /** [tenant, query id] per query written; omitted when it would not fit (wake every query watcher of the tenants). */
  q?: [string, string][];
  /** Tenants written, when the session list did not fit; neither list: wake everything. */
  t?: string[];
}

export interface AppendBatchResult {
  results: AppendedEvent[];
  appended: ArkEvent[];
}

interface EventRow {
  tenant_id: string;
  session_id: string;
  sequence: number;
  global_position: number;
  transaction_id: string;
  type: string;
  time: Date;
  recorded_at: Date;
  query_id: string | null;
  query_name: string | null;
  namespace: string | null;
  user_id: string | null;
  trace_id: string | null;
  span_id: string | null;
  parent_span_id: string | null;
  source: string;
  dedupe_key: string | null;
  data: unknown;
}

const EVENT_COLUMNS = sql.raw(`tenant_id, session_id, sequence, global_position, transaction_id::text AS transaction_id,
  type, time, recorded_at, query_id, query_name, namespace, user_id, trace_id, span_id, parent_span_id, source,
  dedupe_key, data`);

const streamKey = (tenantId: string, sessionId: string) => `${tenantId}\u0000${sessionId}`;

/**
 * The feed horizon of this statement's snapshot: the oldest transaction that may still commit rows
 * into this database. `pg_snapshot_xmin` alone would count every database on the server, so one long
 * transaction anywhere would stall every feed; transactions positively known (pg_stat_activity) to
 * run in another database are left out. That view is read live, not from the snapshot, so anything it
 * cannot place (e.g. it finished meanwhile) is kept in: the horizon errs early, never late.
 * Expects the snapshot as `s` (pg_current_snapshot() is the statement's snapshot).
 */
const HORIZON = sql.raw(`least(pg_snapshot_xmax(s), (
  SELECT min(x) FROM pg_snapshot_xip(s) AS x
  WHERE NOT EXISTS (
    SELECT 1 FROM pg_stat_activity a
    WHERE a.datname <> current_database() AND a.backend_xid IS NOT NULL
      AND a.backend_xid::text::bigint = x::text::bigint % 4294967296)))`);

/** The SQL of the event log. Appends take a transaction from the caller so projectors can join it. */
export class EventLogRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Appends events for any number of sessions in the caller's transaction. Items are assigned
   * sequences in the order given; results come back in the same order.
   */
  async append(trx: Transaction<Database>, items: readonly StreamEvent[]): Promise<AppendBatchResult> {
    const streams = new Map<string, { tenantId: string; sessionId: string }>();
    for (const { tenantId, sessionId } of items) streams.set(streamKey(tenantId, sessionId), { tenantId, sessionId });
    const tenants = [...streams.values()].map((s) => s.tenantId);
    const sessions = [...streams.values()].map((s) => s.sessionId);

    // Serialise appenders per session for the rest of the transaction. Locks are taken in one global
    // order (ascending key, sorted in the subquery) so two batches sharing sessions cannot deadlock.
    // A hash collision only makes two sessions queue behind each other.
    await sql`
      SELECT pg_advisory_xact_lock(key)
      FROM (SELECT DISTINCT hashtextextended(t || '/' || s, 0) AS key
            FROM unnest(${tenants}::text[], ${sessions}::text[]) AS u(t, s)
            ORDER BY key) AS ordered`.execute(trx);

    // Read after locking, in a new statement: under READ COMMITTED its snapshot includes the commit of
    // whichever appender held the lock before us, so last_sequence is current.
    const lastSequence = await this.readHeads(trx, [...streams.values()]);

    const existing = await this.findDedupeKeys(trx, items);
    const results: AppendedEvent[] = [];
    const fresh: { item: StreamEvent; sequence: number }[] = [];
    for (const item of items) {
      const key = streamKey(item.tenantId, item.sessionId);
      const dedupeKey = item.event.dedupeKey ?? null;
      const known = dedupeKey === null ? undefined : existing.get(`${key}\u0000${dedupeKey}`);
      if (known !== undefined) {
        results.push({ sessionId: item.sessionId, sequence: known, duplicate: true });
        continue;
      }
      const sequence = (lastSequence.get(key) ?? 0) + 1;
      lastSequence.set(key, sequence);
      if (dedupeKey !== null) existing.set(`${key}\u0000${dedupeKey}`, sequence);
      results.push({ sessionId: item.sessionId, sequence, duplicate: false });
      fresh.push({ item, sequence });
    }
    if (fresh.length === 0) return { results, appended: [] };

    const appended = await this.insertEvents(trx, fresh);
    await this.advanceStreams(trx, appended);
    return { results, appended };
  }

  /** Sends the transaction's one wake-up; delivered to listeners when (and only if) it commits. */
  async notify(trx: Transaction<Database>, appended: readonly ArkEvent[]): Promise<void> {
    if (appended.length === 0) return;
    const tx = appended[0]!.transactionId;
    const sessions = new Map<string, [string, string, number]>();
    const queries = new Map<string, [string, string]>();
    for (const e of appended) {
      const key = streamKey(e.tenantId, e.sessionId);
      const seen = sessions.get(key);
      if (!seen || seen[2] < e.sequence) sessions.set(key, [e.tenantId, e.sessionId, e.sequence]);
      if (e.queryId !== null) queries.set(streamKey(e.tenantId, e.queryId), [e.tenantId, e.queryId]);
    }
    // Most precise first; coarser wake-ups when the details would not fit in a NOTIFY.
    const candidates: AppendNotification[] = [
      { tx, s: [...sessions.values()], q: [...queries.values()] },
      { tx, s: [...sessions.values()] },
      { tx, t: [...new Set(appended.map((e) => e.tenantId))] },
      { tx },
    ];
    const payload = candidates.map((c) => JSON.stringify(c)).find((p) => Buffer.byteLength(p) <= MAX_NOTIFY_PAYLOAD)!;
    await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${payload})`.execute(trx);
  }

  /** Events of one session after a sequence, in sequence order. */
  async readSession(
    tenantId: string,
    sessionId: string,
    after: number,
    limit: number,
    types?: readonly string[],
  ): Promise<ArkEvent[]> {
    const typeFilter = types && types.length > 0 ? sql`AND type = ANY(${[...types]}::text[])` : sql``;
    const { rows } = await sql<EventRow>`
      SELECT ${EVENT_COLUMNS} FROM events
      WHERE tenant_id = ${tenantId} AND session_id = ${sessionId} AND sequence > ${after} ${typeFilter}
      ORDER BY sequence
      LIMIT ${limit}`.execute(this.db);
    return rows.map(toArkEvent);
  }

  /**
   * A tenant's feed after a cursor, gap-free: only transactions older than every transaction still
   * running in this database (the horizon, see HORIZON) are read, so one that took its positions early and commits late is
   * never skipped; it is read when it is below the horizon, before anything after it.
   * Also returns the horizon, so a reader told of a newer commit knows to look again.
   * With `queryId`, the same feed narrowed to one query's events (its own index keeps that cheap).
   */
  async readFeed(
    tenantId: string,
    after: FeedCursor,
    limit: number,
    queryId?: string,
  ): Promise<{ events: ArkEvent[]; horizon: bigint }> {
    const onlyQuery = queryId === undefined ? sql`` : sql`AND query_id = ${queryId}`;
    const { rows } = await sql<EventRow & { horizon: string }>`
      WITH snapshot AS (SELECT ${HORIZON} AS xmin FROM pg_current_snapshot() AS s)
      SELECT snapshot.xmin::text AS horizon, e.*
      FROM snapshot LEFT JOIN LATERAL (
        SELECT ${EVENT_COLUMNS} FROM events
        WHERE tenant_id = ${tenantId} ${onlyQuery}
          AND transaction_id < snapshot.xmin
          AND (transaction_id, global_position) > (${after.transactionId.toString()}::xid8, ${after.globalPosition})
        ORDER BY transaction_id, global_position
        LIMIT ${limit}
      ) e ON true`.execute(this.db);
    const horizon = BigInt(rows[0]?.horizon ?? '0');
    return { events: rows.filter((r) => r.tenant_id !== null).map(toArkEvent), horizon };
  }

  /** The feed cursor of the event at a global position (upstream clients resume by position). */
  async feedCursorAt(tenantId: string, globalPosition: number): Promise<FeedCursor | undefined> {
    const row = await this.db
      .selectFrom('events')
      .select(sql<string>`transaction_id::text`.as('tx'))
      .where('tenant_id', '=', tenantId)
      .where('global_position', '=', globalPosition)
      .executeTakeFirst();
    return row && { transactionId: BigInt(row.tx), globalPosition };
  }

  /**
   * "From now on" without gaps and without history: the feed is read from the horizon (the oldest
   * transaction still running here, which can lag behind), so the transactions already committed
   * between it and now must be skipped; `committed` tells them apart using this
   * moment's snapshot (below xmax and not in progress = already visible).
   */
  async feedNow(): Promise<{ cursor: FeedCursor; committed: (transactionId: bigint) => boolean }> {
    const { rows } = await sql<{ xmin: string; xmax: string; xip: string[] }>`
      SELECT ${HORIZON}::text AS xmin, pg_snapshot_xmax(s)::text AS xmax,
             array(SELECT pg_snapshot_xip(s)::text) AS xip
      FROM pg_current_snapshot() AS s`.execute(this.db);
    const { xmin, xmax, xip } = rows[0]!;
    const inProgress = new Set(xip.map(BigInt));
    const horizonEnd = BigInt(xmax);
    return {
      cursor: { transactionId: BigInt(xmin), globalPosition: 0 },
      committed: (tx) => tx < horizonEnd && !inProgress.has(tx),
    };
  }

  /** The cursor for "from now on": everything below the current horizon counts as history. */
  async feedHead(): Promise<FeedCursor> {
    const { rows } = await sql<{ xmin: string }>`SELECT ${HORIZON}::text AS xmin FROM pg_current_snapshot() AS s`.execute(this.db);
    return { transactionId: BigInt(rows[0]!.xmin), globalPosition: 0 };
  }

  async lastSequence(tenantId: string, sessionId: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('event_streams')
      .select('last_sequence')
      .where('tenant_id', '=', tenantId)
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
    return row?.last_sequence;
  }

  /** Last sequence of each given session that has events, keyed `tenant\0session`. */
  async streamHeads(streams: readonly { tenantId: string; sessionId: string }[]): Promise<Map<string, number>> {
    return this.readHeads(this.db, streams);
  }

  /** All events in log order, for replaying through projectors. */
  async *readAll(batchSize: number): AsyncGenerator<ArkEvent[]> {
    let after = 0;
    for (;;) {
      const { rows } = await sql<EventRow>`
        SELECT ${EVENT_COLUMNS} FROM events WHERE global_position > ${after} ORDER BY global_position LIMIT ${batchSize}`.execute(this.db);
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.global_position;
      yield rows.map(toArkEvent);
    }
  }

  private async readHeads(
    executor: Kysely<Database>,
    streams: readonly { tenantId: string; sessionId: string }[],
  ): Promise<Map<string, number>> {
    const { rows } = await sql<{ tenant_id: string; session_id: string; last_sequence: number }>`
      SELECT tenant_id, session_id, last_sequence FROM event_streams
      WHERE (tenant_id, session_id) IN (SELECT * FROM unnest(${streams.map((s) => s.tenantId)}::text[],
                                                            ${streams.map((s) => s.sessionId)}::text[]))`.execute(executor);
    return new Map(rows.map((r) => [streamKey(r.tenant_id, r.session_id), r.last_sequence]));
  }

  private async findDedupeKeys(trx: Transaction<Database>, items: readonly StreamEvent[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    const keyed = items.filter((i) => i.event.dedupeKey);
    if (keyed.length === 0) return found;
    // `dedupe_key IS NOT NULL` lets the planner use the partial unique index.
    const { rows } = await sql<{ tenant_id: string; session_id: string; dedupe_key: string; sequence: number }>`
      SELECT e.tenant_id, e.session_id, e.dedupe_key, e.sequence
      FROM events e
      JOIN unnest(${keyed.map((i) => i.tenantId)}::text[], ${keyed.map((i) => i.sessionId)}::text[],
                  ${keyed.map((i) => i.event.dedupeKey)}::text[]) AS k(t, s, d)
        ON e.tenant_id = k.t AND e.session_id = k.s AND e.dedupe_key = k.d
      WHERE e.dedupe_key IS NOT NULL`.execute(trx);
    for (const r of rows) found.set(`${streamKey(r.tenant_id, r.session_id)}\u0000${r.dedupe_key}`, r.sequence);
    return found;
  }

  /** One multi-row INSERT for the whole batch: columns travel as arrays and are unnested server-side. */
  /**
   * One multi-row INSERT for the whole batch. The rows travel as one JSON document expanded by
   * jsonb_to_recordset: serialising it is one native JSON.stringify, where per-column text arrays
   * cost the driver a character-by-character escape of every payload.
   */
  private async insertEvents(trx: Transaction<Database>, fresh: { item: StreamEvent; sequence: number }[]): Promise<ArkEvent[]> {
    const batch = JSON.stringify(
      fresh.map(({ item: { tenantId, sessionId, event: e }, sequence }) => ({
        t: tenantId,
        s: sessionId,
        n: sequence,
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
        d: e.data ?? null,
      })),
    );
    const { rows } = await sql<{ sequence: number; global_position: number; transaction_id: string; time: Date; recorded_at: Date }>`
      INSERT INTO events (tenant_id, session_id, sequence, type, time, query_id, query_name, namespace, user_id,
                          trace_id, span_id, parent_span_id, source, dedupe_key, data)
      SELECT t, s, n, y, coalesce(at, now()), q, qn, ns, u, tr, sp, ps, src, dk, d
      FROM jsonb_to_recordset(${batch}::jsonb) AS batch(t text, s text, n bigint, y text, at timestamptz, q text, qn text,
                                                       ns text, u text, tr text, sp text, ps text, src text, dk text, d jsonb)
      RETURNING sequence, global_position, transaction_id::text AS transaction_id, time, recorded_at`.execute(trx);
    // INSERT ... SELECT returns rows in the order the set function yields them (array order); checked,
    // since a mismatch would be silent.
    return fresh.map(({ item, sequence }, i) => {
      const e = item.event;
      const row = rows[i]!;
      if (row.sequence !== sequence) throw new Error('INSERT ... RETURNING came back out of input order');
      return {
        tenantId: item.tenantId,
        sessionId: item.sessionId,
        sequence,
        globalPosition: row.global_position,
        transactionId: row.transaction_id,
        type: e.type,
        time: row.time,
        recordedAt: row.recorded_at,
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
      };
    });
  }

  private async advanceStreams(trx: Transaction<Database>, appended: readonly ArkEvent[]): Promise<void> {
    const last = new Map<string, ArkEvent>();
    for (const e of appended) last.set(streamKey(e.tenantId, e.sessionId), e);
    const heads = [...last.values()];
    await sql`
      INSERT INTO event_streams (tenant_id, session_id, last_sequence)
      SELECT * FROM unnest(${heads.map((h) => h.tenantId)}::text[], ${heads.map((h) => h.sessionId)}::text[],
                           ${heads.map((h) => h.sequence)}::bigint[])
      ON CONFLICT (tenant_id, session_id) DO UPDATE SET last_sequence = excluded.last_sequence, updated_at = now()`.execute(trx);
  }
}

function toArkEvent(r: EventRow): ArkEvent {
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
    data: r.data,
  };
}
