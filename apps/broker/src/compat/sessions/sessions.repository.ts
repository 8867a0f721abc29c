import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import {
  DatabaseConnection,
  EXAMPLE_ADMIN,
  EXAMPLE_READER,
  GenerateSql,
  inScope,
  sessionShown,
  sessionVisible,
  type SessionQueriesTable,
  type SessionRow,
  type ReadScope,
} from '#ark/database';
import { sessionEntry, type SessionEntry } from './session-entry.js';

export interface SessionFilters {
  status?: 'active' | 'idle' | 'error';
  dateFrom?: Date;
  dateTo?: Date;
  search?: string;
  sort?: 'date' | 'name' | 'conversations';
  order?: 'asc' | 'desc';
}

const SORT_COLUMNS = {
  date: sql.raw('queries_active_at'),
  name: sql.raw(`regexp_replace(session_id, '^session-', '')`),
  conversations: sql.raw('conversation_count'),
};

const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * Sessions whose id, or one of whose queries' agent, team or tool, contains the text (upstream's
 * search), found through the trigram indexes (migrations/0060).
 */
const searchMatch = (tenantId: string, p: string) => sql`session_id IN (SELECT ark_upstream_sessions_search(${tenantId}, ${p}))`;

/** SQL over `sessions` and `session_queries`: sessions with at least one query, as upstream lists them. */
@Injectable()
export class SessionsRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /** Entries of these sessions (those that exist and have queries), in the order given. */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN, ['s1', 's2']] }, { name: 'reader', params: [EXAMPLE_READER, ['s1', 's2']] })
  async entries(scope: ReadScope, sessionIds: readonly string[]): Promise<SessionEntry[]> {
    return inScope(scope, async () => {
      if (sessionIds.length === 0) return [];
      const db = this.connection.db;
      const tenantId = scope.tenantId;
      const [sessions, queries] = await Promise.all([
        db
          .selectFrom('sessions')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('session_id', 'in', [...sessionIds])
          .where('query_count', '>', 0)
          .where(sql<boolean>`${sessionShown(scope, 'sessions')}`)
          .execute(),
        db
          .selectFrom('session_queries')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('session_id', 'in', [...sessionIds])
          .execute(),
      ]);
      return this.build(sessions, queries, sessionIds);
    });
  }

  /** Every session with queries, oldest first (upstream's whole-store answer). */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN] }, { name: 'reader', params: [EXAMPLE_READER] })
  async all(scope: ReadScope): Promise<SessionEntry[]> {
    return inScope(scope, async () => {
      const db = this.connection.db;
      const tenantId = scope.tenantId;
      const [sessions, queries] = await Promise.all([
        db
          .selectFrom('sessions')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('query_count', '>', 0)
          .where(sql<boolean>`${sessionShown(scope, 'sessions')}`)
          .orderBy('queries_created_at')
          .orderBy('session_id')
          .execute(),
        db
          .selectFrom('session_queries')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where(sql<boolean>`${sessionVisible(scope, 'session_queries')}`)
          .execute(),
      ]);
      return this.build(sessions, queries);
    });
  }

  /**
   * A filtered, sorted page (the cursor is an offset, as upstream), its total and the status counts
   * of the whole filtered set.
   */
  @GenerateSql(
    { name: 'admin, no filter', params: [EXAMPLE_ADMIN, {}, 0, 20] },
    {
      name: 'reader, every filter',
      params: [
        EXAMPLE_READER,
        { status: 'active', dateFrom: new Date('2025-01-01T00:00:00Z'), dateTo: new Date('2025-01-02T00:00:00Z'), search: 'x', sort: 'name', order: 'asc' },
        20,
        20,
      ],
    },
  )
  async page(scope: ReadScope, filters: SessionFilters, offset: number, limit: number) {
    return inScope(scope, async () => {
      const where = sql.join(
        [
          sql`tenant_id = ${scope.tenantId}`,
          sessionShown(scope, 'sessions'),
          sql`query_count > 0`,
          ...(filters.status ? [sql`status = ${filters.status}`] : []),
          ...(filters.dateFrom ? [sql`queries_active_at >= ${filters.dateFrom}`] : []),
          ...(filters.dateTo ? [sql`queries_active_at <= ${filters.dateTo}`] : []),
          ...(filters.search ? [searchMatch(scope.tenantId, likePattern(filters.search))] : []),
        ],
        sql` AND `,
      );
      const order = filters.sort
        ? sql`${SORT_COLUMNS[filters.sort]} ${sql.raw(filters.order === 'asc' ? 'ASC' : 'DESC')}, queries_created_at, session_id`
        : sql`queries_created_at, session_id`;
      const [{ rows: ids }, { rows: counts }] = await Promise.all([
        sql<{ session_id: string }>`SELECT session_id FROM sessions WHERE ${where} ORDER BY ${order} OFFSET ${offset} LIMIT ${limit + 1}`.execute(
          this.connection.db,
        ),
        sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM sessions WHERE ${where} GROUP BY status`.execute(this.connection.db),
      ]);
      const statusCounts = { active: 0, idle: 0, error: 0 };
      for (const c of counts) statusCounts[c.status as keyof typeof statusCounts] = c.n;
      return {
        items: await this.entries(
          scope,
          ids.slice(0, limit).map((r) => r.session_id),
        ),
        total: statusCounts.active + statusCounts.idle + statusCounts.error,
        hasMore: ids.length > limit,
        statusCounts,
      };
    });
  }

  /** Sessions a query (by name or UID) appears in. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'q'] })
  async sessionsWithQuery(scope: ReadScope, query: string): Promise<number> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ n: number }>`
        SELECT count(DISTINCT session_id)::int AS n FROM session_queries
        WHERE tenant_id = ${scope.tenantId} AND (query_name = ${query} OR query_id = ${query})`.execute(this.connection.db);
      return rows[0]?.n ?? 0;
    });
  }

  private build(sessions: SessionRow[], queries: SessionQueriesTable[], order?: readonly string[]): SessionEntry[] {
    const bySession = new Map<string, SessionQueriesTable[]>();
    for (const q of queries) {
      const list = bySession.get(q.session_id);
      if (list) list.push(q);
      else bySession.set(q.session_id, [q]);
    }
    const entries = sessions.map((s) => sessionEntry(s, bySession.get(s.session_id) ?? []));
    if (!order) return entries;
    const index = new Map(order.map((id, i) => [id, i]));
    return entries.sort((a, b) => index.get(a.sessionId)! - index.get(b.sessionId)!);
  }
}
