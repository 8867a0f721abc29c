import { Injectable } from '@nestjs/common';
import { sql, type RawBuilder } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, EXAMPLE_READER, GenerateSql, inScope, sessionVisible, type ReadScope } from '#ark/database';
import type { OtlpSpan } from '#ark/otlp';

export interface TraceSpans {
  traceId: string;
  spans: OtlpSpan[];
}

interface TraceHead {
  trace_id: string;
  first: number;
}

interface TraceHeads {
  heads: TraceHead[];
  /** Every trace the filter admits, not only those of the page (upstream's `total`). */
  total: number;
}

export interface TracePage {
  traces: TraceSpans[];
  total: number;
  hasMore: boolean;
  /** Position of the first event of the last trace returned (pages go newest first). */
  lastFirstPosition: number | null;
}

/**
 * The spans of the log: `otlp` events keep the decoded span in `data.span` (an end and a start are
 * two events of one span), read through `events_spans` (migrations/0090) and shown above the
 * tenant's latest `traces` deletion. A tenant's trace list pages the `traces` read model.
 */
@Injectable()
export class TracesRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /** Sessions already known for these traces (not the `trace-<id>` fallback): the earliest span's. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, ['trace-1']] })
  async knownSessions(scope: ReadScope, traceIds: readonly string[]): Promise<Map<string, string>> {
    return inScope(scope, async () => {
      if (traceIds.length === 0) return new Map<string, string>();
      const { rows } = await sql<{ trace_id: string; session_id: string }>`
        SELECT DISTINCT ON (trace_id) trace_id, session_id FROM events
        WHERE tenant_id = ${scope.tenantId} AND source = 'otlp' AND trace_id = ANY(${[...traceIds]}::text[]) AND expires_at > now()
          AND session_id <> 'trace-' || trace_id
        ORDER BY trace_id, global_position`.execute(this.connection.db);
      return new Map(rows.map((r) => [r.trace_id, r.session_id]));
    });
  }

  /**
   * Traces newest first (by the position of their first event), as upstream: `before` keeps traces
   * that began before that position. With `arkSessionId` only spans carrying that `ark.session.id` count.
   */
  @GenerateSql(
    { name: 'admin', params: [EXAMPLE_ADMIN, { limit: 20 }] },
    { name: 'admin, older than a position', params: [EXAMPLE_ADMIN, { before: 100, limit: 20 }] },
    { name: 'reader', params: [EXAMPLE_READER, { limit: 20 }] },
    { name: 'reader, one ark session, older than a position', params: [EXAMPLE_READER, { arkSessionId: 's', before: 100, limit: 20 }] },
  )
  async listTraces(scope: ReadScope, options: { arkSessionId?: string; before?: number; limit: number }): Promise<TracePage> {
    return inScope(scope, async () => {
      const { heads, total } =
        scope.ownerId === undefined && options.arkSessionId === undefined
          ? await this.tenantTraceHeads(scope.tenantId, options.before, options.limit + 1)
          : await this.spanTraceHeads(scope, options.arkSessionId, options.before, options.limit + 1);
      const page = heads.slice(0, options.limit);
      const spans = await this.spansOf(
        scope,
        page.map((h) => h.trace_id),
        options.arkSessionId,
      );
      return {
        traces: page.map((h) => ({ traceId: h.trace_id, spans: spans.get(h.trace_id) ?? [] })),
        total,
        hasMore: heads.length > options.limit,
        lastFirstPosition: page.at(-1)?.first ?? null,
      };
    });
  }

  /** The spans of a trace that the scope sees (a reader: those in sessions they own). */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN, 'trace-1'] }, { name: 'reader', params: [EXAMPLE_READER, 'trace-1'] })
  async trace(scope: ReadScope, traceId: string): Promise<OtlpSpan[]> {
    return inScope(scope, async () => {
      return (await this.spansOf(scope, [traceId])).get(traceId) ?? [];
    });
  }

  /**
   * The visible span events of the tenant: not deleted, in a session the scope sees and, with
   * `arkSessionId`, carrying it as a string `ark.session.id`. Such a span's events are in that
   * session (the attribute names it first, span.normalizer), so the session's rows are all it reads.
   */
  private spanEvents(scope: ReadScope, arkSessionId: string | undefined): RawBuilder<unknown> {
    const session =
      arkSessionId === undefined
        ? sql``
        : sql`AND session_id = ${arkSessionId} AND data->'span'->'attributes'->'ark.session.id' = to_jsonb(${arkSessionId}::text)`;
    return sql`tenant_id = ${scope.tenantId} AND source = 'otlp' ${session} AND expires_at > now()
      AND global_position > (SELECT coalesce(max(d.up_to_position), 0) FROM deletions d
                             WHERE d.tenant_id = ${scope.tenantId} AND d.scope = 'traces' AND d.query_id IS NULL)
      AND ${sessionVisible(scope, 'events')}`;
  }

  /** A whole tenant's traces: the `traces` read model (migrations/0091), newest first by its index. */
  private async tenantTraceHeads(tenantId: string, before: number | undefined, limit: number): Promise<TraceHeads> {
    const older = before === undefined ? sql`` : sql`AND first_position < ${before}`;
    // A trace is listed while its first span is visible (the reaper moves first_position past reaped spans).
    const visible = sql`EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = traces.tenant_id AND e.global_position = traces.first_position
                                AND e.expires_at > now())`;
    // Two snapshots: under ingest the total can count a trace that committed after the page was read
    // (upstream's in-memory total is no more exact). The page itself is one consistent read.
    const [heads, count] = await Promise.all([
      sql<TraceHead>`
        SELECT trace_id, first_position AS first FROM traces WHERE tenant_id = ${tenantId} ${older} AND ${visible}
        ORDER BY first_position DESC LIMIT ${limit}`.execute(this.connection.db),
      sql<{ n: number }>`SELECT count(*)::int AS n FROM traces WHERE tenant_id = ${tenantId} AND ${visible}`.execute(this.connection.db),
    ]);
    return { heads: heads.rows, total: count.rows[0]?.n ?? 0 };
  }

  /**
   * The traces of the span events a reader sees, or of one `ark.session.id`: grouped from the log,
   * since a trace's first visible span depends on the filter.
   */
  private async spanTraceHeads(scope: ReadScope, arkSessionId: string | undefined, before: number | undefined, limit: number): Promise<TraceHeads> {
    const older = before === undefined ? sql`` : sql`HAVING min(global_position) < ${before}`;
    // The first page counts the groups it makes anyway; a later page (HAVING) counts apart.
    const { rows } = await sql<TraceHead & { total: number }>`
      SELECT trace_id, min(global_position) AS first, count(*) OVER ()::int AS total
      FROM events WHERE ${this.spanEvents(scope, arkSessionId)}
      GROUP BY trace_id ${older}
      ORDER BY first DESC LIMIT ${limit}`.execute(this.connection.db);
    if (before === undefined) return { heads: rows, total: rows[0]?.total ?? 0 };
    const { rows: count } = await sql<{ n: number }>`
      SELECT count(DISTINCT trace_id)::int AS n FROM events WHERE ${this.spanEvents(scope, arkSessionId)}`.execute(this.connection.db);
    return { heads: rows, total: count[0]?.n ?? 0 };
  }

  /**
   * One version per span: the ended one if any (a late start never undoes an end), else the first;
   * spans in the order they first arrived.
   */
  private async spansOf(scope: ReadScope, traceIds: string[], arkSessionId?: string): Promise<Map<string, OtlpSpan[]>> {
    const byTrace = new Map<string, OtlpSpan[]>();
    if (traceIds.length === 0) return byTrace;
    const { rows } = await sql<{ trace_id: string; span: OtlpSpan }>`
      SELECT trace_id, span FROM (
        SELECT DISTINCT ON (trace_id, span_id) trace_id, data->'span' AS span,
               min(global_position) OVER (PARTITION BY trace_id, span_id) AS first
        FROM events WHERE trace_id = ANY(${traceIds}::text[]) AND ${this.spanEvents(scope, arkSessionId)}
        ORDER BY trace_id, span_id, data->'span'->>'endTimeUnixNano' IS NULL, global_position
      ) s
      ORDER BY first`.execute(this.connection.db);
    for (const row of rows) {
      const list = byTrace.get(row.trace_id) ?? [];
      list.push(row.span);
      byTrace.set(row.trace_id, list);
    }
    return byTrace;
  }
}
