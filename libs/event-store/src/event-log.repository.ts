import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import {
  EXAMPLE_ADMIN,
  EXAMPLE_READER,
  EXAMPLE_TRANSACTION,
  GenerateSql,
  inScope,
  PREPARED,
  sessionShown,
  sessionVisible,
  tenantScope,
  type Database,
  type ReadScope,
} from '#ark/database';
import type { AppendedEvent, ArkEvent, StreamEvent } from './ark-event.js';
import { decodeChunkRun, type EncodedChunkRun } from './chunk-run-codec.js';
import { appendedEvent, EVENT_SELECT, eventColumnsOf, expiryOf, NEVER_EXPIRES, toAppendBatch, toArkEvent, type EventRow } from './event-row.js';
import { compareFeedCursors, FEED_START, type FeedCursor } from './feed-cursor.js';

/** Channel of the one NOTIFY each appending transaction sends. */
export const EVENTS_CHANNEL = 'ark_events';
/**
 * Wake-up sent on commit: the transaction and the last sequence it wrote per session. Never event data.
 * `ark_append_events` (migrations/functions/ark_append_events.sql) builds it, the most precise form that stays below
 * PostgreSQL's 8000-byte NOTIFY limit.
 */
export interface AppendNotification {
  /** xid8 of the committed transaction. */
  tx: string;
  /** When the transaction queued it: ms since the epoch on the database server's clock (`ark_append_events`). */
  at?: number;
  /** [tenant, session, last sequence] per session written; omitted when it would not fit. */
  s?: [string, string, number][];
  /** [tenant, query id] per query written (a chunk also names its upload path's query); omitted when it would not fit (wake every query watcher of the tenants). */
  q?: [string, string][];
  /** Tenants written, when the session list did not fit; neither list: wake everything. */
  t?: string[];
}

/** A part of the feed: one query's events (by the ids they are filed under), or one event type's (a custom topic). */
export type FeedNarrowing = { queryIds: readonly string[] } | { type: string };

export interface AppendBatchResult {
  results: AppendedEvent[];
  appended: ArkEvent[];
}

/** A row of `ark_append_events`: global_position is null for a duplicate, transaction_id when nothing was new. */
interface AppendRow {
  i: number;
  sequence: number;
  duplicate: boolean;
  global_position: number | null;
  transaction_id: string | null;
  recorded_at: Date;
}

/** A row of `llm_completions` as the feed decodes it. */
interface FoldedRunRow {
  tenant_id: string;
  session_id: string;
  query_name: string;
  run: string;
  namespace: string | null;
  user_id: string | null;
  trace_id: string | null;
  span_id: string | null;
  parent_span_id: string | null;
  chunks: EncodedChunkRun;
  expires_at: Date | number;
}

const cursorOf = (e: ArkEvent): FeedCursor => ({ transactionId: BigInt(e.transactionId), globalPosition: e.globalPosition });

const streamKey = (tenantId: string, sessionId: string) => `${tenantId}\u0000${sessionId}`;

/** Default byte budget of one read page (READ_PAGE_MAX_BYTES). */
export const DEFAULT_PAGE_MAX_BYTES = 4 * 1024 * 1024;

/** How a read hands rows over. `dataAsText`: each event's data stays the JSON text PostgreSQL sent (JsonText), for answers that only pass it on. */
export interface LogReadOptions {
  dataAsText?: boolean;
}

/** A page of the log: `cut` when it stopped at the byte budget before its row limit (the cursor continues). */
export interface LogPage {
  events: ArkEvent[];
  cut: boolean;
}

/**
 * A row of a budgeted read: the bytes it counts (its `data` as JSON text, recorded at append since
 * migration 0260, so a read never renders rows it will not send), and the page's bytes up to and including it.
 */
type BudgetedRow = EventRow & { row_bytes: string; page_bytes: string };

/** What an event row counts against the budget: the recorded size, or for older rows the size of its JSON text. */
export const ROW_BYTES = sql`coalesce(data_bytes, octet_length(data::text)) AS row_bytes`;

/**
 * The rows of a budgeted read (each with the bytes it counts and the page's bytes up to and
 * including it) that the budget keeps: every row that starts below it (so a page holds at least one
 * row, however large), and whether rows were left out for it. `limit` is the number of rows the
 * read asked for; a page exactly at it is not cut.
 */
export function withinByteBudget<R extends { row_bytes: string | number; page_bytes: string | number }>(
  rows: readonly R[],
  limit: number,
  maxBytes: number,
): { rows: R[]; cut: boolean } {
  const kept = rows.filter((r) => Number(r.page_bytes) - Number(r.row_bytes) < maxBytes);
  const last = kept.at(-1);
  return { rows: kept, cut: kept.length < limit && last !== undefined && Number(last.page_bytes) >= maxBytes };
}

function withinBudget(rows: readonly BudgetedRow[], limit: number, maxBytes: number, dataAsText = false): LogPage {
  const { rows: kept, cut } = withinByteBudget(rows, limit, maxBytes);
  return { events: kept.map((r) => toArkEvent(r, dataAsText)), cut };
}

/** One type's events; a custom topic's also say so literally, which lets any plan use the topics' partial index. */
function typeNarrowing(type: string) {
  return type.startsWith('custom.') ? sql`AND type = ${type} AND type LIKE 'custom.%'` : sql`AND type = ${type}`;
}

/** The SQL of the event log. Appends take a transaction from the caller so projectors can join it. */
export class EventLogRepository {
  /** `pageMaxBytes`: what one read page may hold of events' JSON (READ_PAGE_MAX_BYTES). */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly pageMaxBytes = DEFAULT_PAGE_MAX_BYTES,
  ) {}

  /**
   * Appends events for any number of sessions in the caller's transaction, in one round trip
   * (`ark_append_events`, migrations/functions/ark_append_events.sql: locks, heads, dedupe, insert, stream heads and the one
   * NOTIFY, see AppendNotification). Items are assigned sequences in the order given; results come
   * back in the same order. The rows travel as one JSON document: serialising it is one native
   * JSON.stringify, where per-column text arrays cost the driver a character-by-character escape.
   */
  @GenerateSql({
    tenants: ['t'],
    params: [EXAMPLE_TRANSACTION, [{ tenantId: 't', sessionId: 's', event: { type: 'custom.example', source: 'api', dedupeKey: 'k', data: { n: 1 } } }]],
  })
  async append(trx: Transaction<Database>, items: readonly StreamEvent[]): Promise<AppendBatchResult> {
    const { batch, dataBytes } = toAppendBatch(items);
    const { rows } = await sql<AppendRow>`${PREPARED}SELECT * FROM ark_append_events(${batch}::jsonb)`.execute(trx);
    if (rows.length !== items.length) throw new Error(`ark_append_events answered ${rows.length} rows for ${items.length} events`);
    const results: AppendedEvent[] = [];
    const appended: ArkEvent[] = [];
    for (let i = 0; i < items.length; i++) {
      const row = rows[i]!;
      const item = items[i]!;
      if (row.i !== i) throw new Error('ark_append_events answered out of input order');
      results.push({ sessionId: item.sessionId, sequence: row.sequence, duplicate: row.duplicate });
      if (row.duplicate) continue;
      appended.push(
        appendedEvent(item, {
          sequence: row.sequence,
          globalPosition: row.global_position!,
          transactionId: row.transaction_id!,
          recordedAt: row.recorded_at,
          expiresAt: expiryOf(item.event.ttlSeconds, row.recorded_at),
          dataBytes: dataBytes[i]!,
        }),
      );
    }
    return { results, appended };
  }

  /**
   * Visible (unexpired) events of one session after a sequence, in sequence order, at most `limit`
   * and as many as fit the byte budget (at least one). Each row's size is its JSON text, summed in
   * the database as rows stream past the LIMIT, so rows beyond the budget never reach this process.
   */
  @GenerateSql(
    { name: 'every type', params: [EXAMPLE_READER, 's', 0, 100] },
    { name: 'some types', params: [EXAMPLE_ADMIN, 's', 0, 100, ['llm.chunk']] },
    { name: 'data as text', params: [EXAMPLE_READER, 's', 0, 100, undefined, { dataAsText: true }] },
  )
  async readSession(
    scope: ReadScope,
    sessionId: string,
    after: number,
    limit: number,
    types?: readonly string[],
    { dataAsText = false }: LogReadOptions = {},
  ): Promise<LogPage> {
    const typeFilter = types && types.length > 0 ? sql`AND type = ANY(${[...types]}::text[])` : sql``;
    const { rows } = await inScope(scope, () =>
      sql<BudgetedRow>`${PREPARED}
        SELECT ${eventColumnsOf('page', dataAsText)}, page.row_bytes, page.page_bytes FROM (
          SELECT e.*, sum(e.row_bytes) OVER (ORDER BY e.sequence ROWS UNBOUNDED PRECEDING) AS page_bytes
          FROM (
            SELECT ${EVENT_SELECT}, ${ROW_BYTES} FROM events
            WHERE tenant_id = ${scope.tenantId} AND session_id = ${sessionId} AND sequence > ${after} ${typeFilter} AND expires_at > now()
            ORDER BY sequence
            LIMIT ${limit}
          ) e
        ) page
        WHERE page.page_bytes - page.row_bytes < ${this.pageMaxBytes}`.execute(this.db),
    );
    return withinBudget(rows, limit, this.pageMaxBytes, dataAsText);
  }

  /**
   * A tenant's feed after a cursor, gap-free: only transactions older than every transaction still
   * running in this database (the horizon, `ark_feed_horizon()`, migrations/functions/ark_feed_horizon.sql) are read, so one
   * that took its positions early and commits late is never skipped; it is read when it is below the
   * horizon, before anything after it.
   * Also returns the horizon, so a reader told of a newer commit knows to look again.
   * Narrowed by `queryIds`, the same feed of the events filed under those query ids, and the chunks
   * uploaded under them; by `type`, of the events of that type (a custom topic). Their own indexes keep both cheap.
   * A scope with an owner reads only events of sessions that user owns (a reader's feed): the session
   * row commits with the events that create it, so the filter never hides an event already owned. An
   * admin's deletion tombstones (`records.deleted`) are the tenant's and change what every reader
   * sees, so they are in every reader's feed.
   * Like `readSession`, a page stops at the byte budget (`cut`).
   */
  @GenerateSql(
    { name: 'admin', params: [EXAMPLE_ADMIN, FEED_START, 100] },
    { name: 'reader, one query', params: [EXAMPLE_READER, FEED_START, 100, { queryIds: ['q-uid', 'q-name'] }] },
    { name: 'reader, one type', params: [EXAMPLE_READER, FEED_START, 100, { type: 'custom.deploys' }] },
    { name: 'admin, data as text', params: [EXAMPLE_ADMIN, FEED_START, 100, undefined, { dataAsText: true }] },
  )
  async readFeed(
    scope: ReadScope,
    after: FeedCursor,
    limit: number,
    narrow?: FeedNarrowing,
    { dataAsText = false }: LogReadOptions = {},
  ): Promise<LogPage & { horizon: bigint }> {
    const onlyOwned = scope.ownerId === undefined ? sql`` : sql`AND (events.type = 'records.deleted' OR ${sessionVisible(scope, 'events')})`;
    const queryIds = narrow !== undefined && 'queryIds' in narrow ? [...narrow.queryIds] : undefined;
    // Whether compacted runs of the query lie past the cursor: only then does a second statement
    // read them (foldedChunks), so a reader tailing a live query makes one round trip per wake-up.
    const hasFolded =
      queryIds === undefined
        ? sql`false`
        : sql`EXISTS (SELECT 1 FROM llm_completions c
            WHERE c.tenant_id = ${scope.tenantId} AND (c.query_name = ANY(${queryIds}::text[]) OR c.run = ANY(${queryIds}::text[]))
              AND c.expires_at > now() AND (c.last_tx, c.last_position) > (${after.transactionId.toString()}::xid8, ${after.globalPosition})
              AND c.first_tx < snapshot.xmin)`;
    const feedAfterCursor = (narrowed: RawBuilder<unknown>) => sql`
          SELECT ${EVENT_SELECT}, events.transaction_id AS feed_tx, ${ROW_BYTES} FROM events
          WHERE tenant_id = ${scope.tenantId} ${narrowed} ${onlyOwned} AND expires_at > now()
            AND transaction_id < snapshot.xmin
            AND (transaction_id, global_position) > (${after.transactionId.toString()}::xid8, ${after.globalPosition})
          -- Qualified: a bare name would sort by the text output column of the same name, and
          -- '100000' < '99999' would page past a lower transaction id (a gap in the feed).
          ORDER BY events.transaction_id, events.global_position
          LIMIT ${limit}`;
    // A query's events: per id, those filed under it (events_query) and the chunks uploaded under it
    // (events_chunk_feed), each an index range in feed order from the cursor, merged. One condition
    // over both ids would walk the tenant's whole feed past the cursor (events_tenant_feed) and filter
    // it, for every reader of every query. The ids go in as a VALUES list, not an array: a generic
    // plan then counts them as a custom one does (an array parameter counts as ten), so PostgreSQL
    // keeps the prepared plan instead of planning every read. No id: one NULL, which matches no row.
    const queryFeed = (queryIds: readonly string[]) => {
      const ids = sql`(VALUES ${sql.join((queryIds.length > 0 ? queryIds : [null]).map((id) => sql`(${id}::text)`))})`;
      return sql`
          SELECT DISTINCT ON (u.feed_tx, u.global_position) u.* FROM (
            SELECT x.* FROM ${ids} AS k(id) CROSS JOIN LATERAL (${feedAfterCursor(sql`AND query_id = k.id`)}) x
            UNION ALL
            SELECT x.* FROM ${ids} AS k(id)
              CROSS JOIN LATERAL (${feedAfterCursor(sql`AND source = 'chunk' AND query_name = k.id`)}) x
          ) u
          ORDER BY u.feed_tx, u.global_position
          LIMIT ${limit}`;
    };
    const candidates =
      queryIds !== undefined ? queryFeed(queryIds) : feedAfterCursor(narrow !== undefined && 'type' in narrow ? typeNarrowing(narrow.type) : sql``);
    const { rows } = await inScope(scope, () =>
      sql<BudgetedRow & { horizon: string; has_folded: boolean }>`${PREPARED}
      -- MATERIALIZED: the horizon is computed once, so the rows read and the horizon returned agree.
      WITH snapshot AS MATERIALIZED (SELECT ark_feed_horizon() AS xmin)
      SELECT snapshot.xmin::text AS horizon, ${hasFolded} AS has_folded, ${eventColumnsOf('page', dataAsText)}, page.row_bytes, page.page_bytes
      FROM snapshot LEFT JOIN LATERAL (
        SELECT e.*, sum(e.row_bytes) OVER (ORDER BY e.feed_tx, e.global_position ROWS UNBOUNDED PRECEDING) AS page_bytes
        FROM (${candidates}) e
      ) page ON page.page_bytes - page.row_bytes < ${this.pageMaxBytes}`.execute(this.db),
    );
    const horizon = BigInt(rows[0]?.horizon ?? '0');
    const page = withinBudget(
      rows.filter((r) => r.tenant_id !== null),
      limit,
      this.pageMaxBytes,
      dataAsText,
    );
    if (queryIds === undefined || rows[0]?.has_folded !== true) return { ...page, horizon };
    // A folded chunk whose raw row is still stored (until COMPACTED_CHUNK_TTL_SECONDS) was read raw: that copy stays.
    const raw = new Set(page.events.map((e) => e.globalPosition));
    const folded = (await this.foldedChunks(scope, after, horizon, queryIds)).filter((e) => !raw.has(e.globalPosition));
    if (folded.length === 0) return { ...page, horizon };
    // A page cut at its byte budget ends before raw events that follow it: folded chunks past its
    // last event wait for the next page, or the cursor would skip those raw events.
    const last = page.events.at(-1);
    const within = page.cut && last ? folded.filter((e) => compareFeedCursors(cursorOf(e), cursorOf(last)) < 0) : folded;
    const byFeedOrder = (a: ArkEvent, b: ArkEvent) => compareFeedCursors(cursorOf(a), cursorOf(b));
    return { events: [...page.events, ...within].sort(byFeedOrder).slice(0, limit), cut: page.cut, horizon };
  }

  /**
   * The chunk events of a query's compacted runs (`llm_completions`, chunk-run-codec.ts) after a
   * feed cursor and below the horizon: exactly the raw rows they were, so a completion view replays
   * the same after compaction as before.
   */
  @GenerateSql({ name: 'reader', params: [EXAMPLE_READER, FEED_START, 10n, ['q-uid', 'q-name']] })
  async foldedChunks(scope: ReadScope, after: FeedCursor, horizon: bigint, queryIds: readonly string[]): Promise<ArkEvent[]> {
    const { rows } = await inScope(scope, () =>
      sql<FoldedRunRow>`${PREPARED}
        SELECT tenant_id, session_id, query_name, run, namespace, user_id, trace_id, span_id, parent_span_id, chunks, expires_at
        FROM llm_completions c
        WHERE tenant_id = ${scope.tenantId} AND (query_name = ANY(${[...queryIds]}::text[]) OR run = ANY(${[...queryIds]}::text[]))
          AND expires_at > now() AND ${sessionVisible(scope, 'c')}
          AND (last_tx, last_position) > (${after.transactionId.toString()}::xid8, ${after.globalPosition})
          AND first_tx < ${horizon.toString()}::xid8
        ORDER BY first_tx, first_position`.execute(this.db),
    );
    return rows.flatMap((r) =>
      decodeChunkRun(
        {
          tenantId: r.tenant_id,
          sessionId: r.session_id,
          queryName: r.query_name,
          run: r.run === '' ? null : r.run,
          namespace: r.namespace,
          userId: r.user_id,
          traceId: r.trace_id,
          spanId: r.span_id,
          parentSpanId: r.parent_span_id,
        },
        r.chunks,
        r.expires_at instanceof Date ? r.expires_at : NEVER_EXPIRES,
      ).filter((e) => BigInt(e.transactionId) < horizon && compareFeedCursors(cursorOf(e), after) > 0),
    );
  }

  /** The feed cursor of the event at a global position (upstream clients resume by position). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 1] })
  async feedCursorAt(scope: ReadScope, globalPosition: number): Promise<FeedCursor | undefined> {
    const row = await inScope(scope, () =>
      this.db
        .selectFrom('events')
        .select(sql<string>`transaction_id::text`.as('tx'))
        .where('tenant_id', '=', scope.tenantId)
        .where('global_position', '=', globalPosition)
        .executeTakeFirst(),
    );
    return row && { transactionId: BigInt(row.tx), globalPosition };
  }

  /**
   * "From now on" without gaps and without history: the feed is read from the horizon (the oldest
   * transaction still running here, which can lag behind), so the transactions already committed
   * between it and now must be skipped; `committed` tells them apart using this
   * moment's snapshot (below xmax and not in progress = already visible).
   */
  @GenerateSql({ params: [] })
  async feedNow(): Promise<{ cursor: FeedCursor; committed: (transactionId: bigint) => boolean }> {
    const { rows } = await sql<{ xmin: string; xmax: string; xip: string[] }>`
      SELECT ark_feed_horizon()::text AS xmin, pg_snapshot_xmax(s)::text AS xmax,
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

  /** The session has events and the scope sees it (`sessions.user_id` is its owner, when it has one). */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN, 's'] }, { name: 'reader', params: [EXAMPLE_READER, 's'] })
  async sessionVisible(scope: ReadScope, sessionId: string): Promise<boolean> {
    const { rows } = await inScope(scope, () =>
      sql`SELECT 1 FROM sessions s WHERE tenant_id = ${scope.tenantId} AND session_id = ${sessionId} AND ${sessionShown(scope, 's')}`.execute(this.db),
    );
    return rows.length > 0;
  }

  /**
   * Takes the append locks of these sessions in the caller's transaction, as `ark_append_events` does
   * (same keys, same ascending order, so two batches cannot deadlock; taking them again there is a
   * no-op): what the caller reads of these sessions afterwards stays current until it commits.
   */
  @GenerateSql({ params: [EXAMPLE_TRANSACTION, [{ tenantId: 't', sessionId: 's' }]] })
  async lockSessions(trx: Transaction<Database>, streams: readonly { tenantId: string; sessionId: string }[]): Promise<void> {
    await sql`${PREPARED}
      SELECT pg_advisory_xact_lock(k.key)
      FROM (SELECT DISTINCT hashtextextended(t || '/' || s, 0) AS key
            FROM unnest(${streams.map((x) => x.tenantId)}::text[], ${streams.map((x) => x.sessionId)}::text[]) AS u(t, s)
            ORDER BY key) AS k`.execute(trx);
  }

  /** What is stored under these dedupe keys (source, span, type, time), keyed `tenant\0session\0key`, in the caller's transaction. */
  @GenerateSql({ params: [EXAMPLE_TRANSACTION, [{ tenantId: 't', sessionId: 's', dedupeKey: 'step:tool.call:ns/q/call-1:end' }]] })
  async storedReports(
    trx: Transaction<Database>,
    keys: readonly { tenantId: string; sessionId: string; dedupeKey: string }[],
  ): Promise<Map<string, { source: string; spanId: string | null; type: string; time: Date }>> {
    // Not PREPARED: planned per call, so a plan made while `events` had no statistics (when every index
    // leading with tenant_id costs the same) cannot keep scanning a tenant's events per key.
    const { rows } = await sql<{ tenant_id: string; session_id: string; dedupe_key: string; source: string; span_id: string | null; type: string; time: Date }>`
      SELECT e.tenant_id, e.session_id, e.dedupe_key, e.source, e.span_id, e.type, e.time
      FROM unnest(${keys.map((k) => k.tenantId)}::text[], ${keys.map((k) => k.sessionId)}::text[], ${keys.map((k) => k.dedupeKey)}::text[]) AS k(t, s, dk)
      -- One probe of the unique dedupe index per key (its predicate stated, so the index applies).
      JOIN events e ON e.tenant_id = k.t AND e.session_id = k.s AND e.dedupe_key = k.dk AND e.dedupe_key IS NOT NULL`.execute(trx);
    return new Map(
      rows.map((r) => [`${r.tenant_id}\u0000${r.session_id}\u0000${r.dedupe_key}`, { source: r.source, spanId: r.span_id, type: r.type, time: r.time }]),
    );
  }

  /** Last sequence of each given session that has events, keyed `tenant\0session`. */
  @GenerateSql({ params: [[{ tenantId: 't', sessionId: 's' }]] })
  async streamHeads(streams: readonly { tenantId: string; sessionId: string }[]): Promise<Map<string, number>> {
    return tenantScope.run([...new Set(streams.map((s) => s.tenantId))], () => this.readHeads(this.db, streams));
  }

  /**
   * One page of a replay (projections rebuild): events of `tenants` that `upTo` sees (committed before
   * that snapshot was taken) and, when given, `since` does not (a snapshot already replayed), after
   * `cursor` in feed order. The set is fixed by the two snapshots, so paging it by cursor is stable
   * however transactions commit meanwhile. Within a session feed order is sequence order: appenders
   * take their session locks before their first write, which assigns the transaction id.
   */
  @GenerateSql(
    { name: 'first replay', params: [['t'], '10:10:', null, FEED_START, 100] },
    { name: 'since a snapshot', params: [['t'], '20:20:', '10:10:', FEED_START, 100] },
  )
  async readReplayPage(tenants: readonly string[], upTo: string, since: string | null, cursor: FeedCursor, limit: number): Promise<ArkEvent[]> {
    const notSince = since === null ? sql`` : sql`AND NOT pg_visible_in_snapshot(e.transaction_id, ${since}::pg_snapshot)`;
    const { rows } = await sql<EventRow>`
      SELECT x.* FROM unnest(${tenants}::text[]) AS t(tid)
      CROSS JOIN LATERAL (
        SELECT ${EVENT_SELECT} FROM events e
        WHERE e.tenant_id = t.tid
          AND (e.transaction_id, e.global_position) > (${cursor.transactionId.toString()}::xid8, ${cursor.globalPosition})
          AND pg_visible_in_snapshot(e.transaction_id, ${upTo}::pg_snapshot) ${notSince}
        ORDER BY e.transaction_id, e.global_position -- the column, not the text output of the same name
        LIMIT ${limit}
      ) x
      ORDER BY x.transaction_id::xid8, x.global_position
      LIMIT ${limit}`.execute(this.db);
    return rows.map((r) => toArkEvent(r));
  }

  private async readHeads(executor: Kysely<Database>, streams: readonly { tenantId: string; sessionId: string }[]): Promise<Map<string, number>> {
    const { rows } = await sql<{ tenant_id: string; session_id: string; last_sequence: number }>`
      SELECT tenant_id, session_id, last_sequence FROM event_streams
      WHERE (tenant_id, session_id) IN (SELECT * FROM unnest(${streams.map((s) => s.tenantId)}::text[],
                                                            ${streams.map((s) => s.sessionId)}::text[]))`.execute(executor);
    return new Map(rows.map((r) => [streamKey(r.tenant_id, r.session_id), r.last_sequence]));
  }
}
