import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DatabaseConnection, type SpansTable } from '#ark/database';
import { sessionVisible, type ReadScope } from '#ark/tenancy';

export interface TraceSpans {
  traceId: string;
  spans: SpansTable[];
}

export interface TracePage {
  traces: TraceSpans[];
  total: number;
  hasMore: boolean;
  /** first_position of the last trace returned (pages go newest first). */
  lastFirstPosition: number | null;
}

/** SQL over the `spans` read model. */
@Injectable()
export class TracesRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /** Sessions already known for these traces (not the `trace-<id>` fallback). */
  async knownSessions(tenantId: string, traceIds: readonly string[]): Promise<Map<string, string>> {
    if (traceIds.length === 0) return new Map();
    const { rows } = await sql<{ trace_id: string; session_id: string }>`
      SELECT DISTINCT ON (trace_id) trace_id, session_id FROM spans
      WHERE tenant_id = ${tenantId} AND trace_id = ANY(${[...traceIds]}::text[]) AND session_id <> 'trace-' || trace_id
      ORDER BY trace_id, first_position`.execute(this.connection.db);
    return new Map(rows.map((r) => [r.trace_id, r.session_id]));
  }

  /**
   * Traces newest first (by their first span's position), as upstream: `before` keeps traces that
   * began before that position. With `arkSessionId` only spans carrying that `ark.session.id` count.
   */
  async listTraces(scope: ReadScope, options: { arkSessionId?: string; before?: number; limit: number }): Promise<TracePage> {
    const tenantId = scope.tenantId;
    const session = options.arkSessionId === undefined ? sql`` : sql`AND ark_session_id = ${options.arkSessionId}`;
    const before = options.before === undefined ? sql`` : sql`HAVING min(first_position) < ${options.before}`;
    const { rows: heads } = await sql<{ trace_id: string; first: number; total: number }>`
      SELECT trace_id, min(first_position) AS first, count(*) OVER ()::int AS total
      FROM spans WHERE tenant_id = ${tenantId} ${session} AND ${sessionVisible(scope, 'spans')}
      GROUP BY trace_id ${before}
      ORDER BY first DESC
      LIMIT ${options.limit + 1}`.execute(this.connection.db);
    const page = heads.slice(0, options.limit);
    const total = options.before === undefined ? (heads[0]?.total ?? 0) : await this.countTraces(scope, options.arkSessionId);
    const spans = await this.spansOf(scope, page.map((h) => h.trace_id), options.arkSessionId);
    return {
      traces: page.map((h) => ({ traceId: h.trace_id, spans: spans.get(h.trace_id) ?? [] })),
      total,
      hasMore: heads.length > options.limit,
      lastFirstPosition: page.at(-1)?.first ?? null,
    };
  }

  /** The spans of a trace that the scope sees (a reader: those in sessions they own). */
  async trace(scope: ReadScope, traceId: string): Promise<SpansTable[]> {
    return (await this.spansOf(scope, [traceId])).get(traceId) ?? [];
  }

  private async countTraces(scope: ReadScope, arkSessionId?: string): Promise<number> {
    const session = arkSessionId === undefined ? sql`` : sql`AND ark_session_id = ${arkSessionId}`;
    const { rows } = await sql<{ n: number }>`
      SELECT count(DISTINCT trace_id)::int AS n FROM spans
      WHERE tenant_id = ${scope.tenantId} ${session} AND ${sessionVisible(scope, 'spans')}`.execute(this.connection.db);
    return rows[0]?.n ?? 0;
  }

  private async spansOf(scope: ReadScope, traceIds: string[], arkSessionId?: string): Promise<Map<string, SpansTable[]>> {
    const byTrace = new Map<string, SpansTable[]>();
    if (traceIds.length === 0) return byTrace;
    const session = arkSessionId === undefined ? sql`` : sql`AND ark_session_id = ${arkSessionId}`;
    const { rows } = await sql<SpansTable>`
      SELECT * FROM spans WHERE tenant_id = ${scope.tenantId} AND trace_id = ANY(${traceIds}::text[]) ${session}
        AND ${sessionVisible(scope, 'spans')}
      ORDER BY first_position`.execute(this.connection.db);
    for (const row of rows) {
      const list = byTrace.get(row.trace_id) ?? [];
      list.push(row);
      byTrace.set(row.trace_id, list);
    }
    return byTrace;
  }
}
