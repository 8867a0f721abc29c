import { Injectable } from '@nestjs/common';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, EXAMPLE_READER, GenerateSql, inScope, sessionShown, PREPARED, type Database, type ReadScope } from '#ark/database';
import type { SessionStatusV2 } from './dto/sessions-v2.dto.js';

export interface SessionListFilters {
  status?: SessionStatusV2;
  userId?: string;
  namespace?: string;
  from?: Date;
  to?: Date;
  search?: string;
  agent?: string;
  hasErrors?: boolean;
}

/** A session with the summary of its work (ark_session_work). */
export interface SessionSummaryRow {
  session_id: string;
  user_id: string | null;
  first_activity_at: Date;
  last_activity_at: Date;
  event_count: string;
  last_sequence: string;
  status: SessionStatusV2;
  query_count: number;
  error_query_count: number;
  has_errors: boolean;
  namespaces: string[];
  agents: string[];
  teams: string[];
  models: string[];
  tools: string[];
  tokens_input: number;
  tokens_output: number;
  tokens_total: number;
}

/** Newest sessions a search tests one by one before it asks the trigram indexes (list). */
const SEARCH_WINDOW = 300;

const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Each session's work from its queries (ark_session_work, migrations/0110: inlined, one index scan). */
const sessionSummary = sql`CROSS JOIN LATERAL ark_session_work(s.tenant_id, s.session_id) a`;

const COLUMNS = sql`s.session_id, s.user_id, s.first_activity_at, s.last_activity_at, s.event_count, s.last_sequence,
                 a.query_count, a.error_query_count, a.has_errors, a.status, a.namespaces, a.agents, a.teams, a.models, a.tools,
                 a.tokens_input, a.tokens_output, a.tokens_total`;

/** One message of a session, as the aggregate shows it. */
export interface SessionMessageRow {
  global_position: number;
  conversation_id: string;
  query_id: string;
  message: unknown;
  recorded_at: Date;
}

/** `sessions` with their work summaries, and the session's messages: what the scope sees. */
@Injectable()
export class SessionSummaryRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /**
   * Up to `limit + 1` sessions, newest last activity first (ties by id), past the `after` sort key:
   * one more than the page, so the caller knows whether another follows.
   */
  @GenerateSql(
    { name: 'admin, first page', params: [EXAMPLE_ADMIN, {}, 20, undefined] },
    {
      name: 'reader, active, every other filter but search and to, after a cursor',
      params: [
        EXAMPLE_READER,
        { status: 'active', userId: 'u', namespace: 'ns', agent: 'a', from: new Date('2025-01-01T00:00:00Z'), hasErrors: true },
        20,
        ['2025-01-01T00:00:00Z', 's'],
      ],
    },
    { name: 'idle, without errors', params: [EXAMPLE_ADMIN, { status: 'idle', hasErrors: false }, 20, undefined] },
    { name: 'error', params: [EXAMPLE_ADMIN, { status: 'error' }, 20, undefined] },
    { name: 'activity up to a time', params: [EXAMPLE_ADMIN, { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2025-01-02T00:00:00Z') }, 20, undefined] },
    { name: 'search, after a cursor', params: [EXAMPLE_ADMIN, { search: 'x' }, 20, ['2025-01-01T00:00:00Z', 's']] },
  )
  async list(scope: ReadScope, filters: SessionListFilters, limit: number, after: readonly [string, string] | undefined): Promise<SessionSummaryRow[]> {
    return inScope(scope, async () => {
      const db = this.connection.db;
      const exists = (cond: RawBuilder<unknown>) =>
        sql`EXISTS (SELECT 1 FROM queries q WHERE q.tenant_id = s.tenant_id AND q.session_id = s.session_id AND ${cond})`;
      const where: RawBuilder<unknown>[] = [sql`s.tenant_id = ${scope.tenantId}`, sessionShown(scope, 's')];
      // Past the cursor in the list's order (newest activity first, ties by id).
      const pastCursor = (alias: RawBuilder<unknown>, [at, id]: readonly [string, string]) =>
        sql`(${alias}.last_activity_at < ${at}::timestamptz OR (${alias}.last_activity_at = ${at}::timestamptz AND ${alias}.session_id > ${id}))`;
      if (after) where.push(pastCursor(sql`s`, after));
      if (filters.userId !== undefined) where.push(sql`s.user_id = ${filters.userId}`);
      if (filters.from) where.push(sql`s.last_activity_at >= ${filters.from}`);

      if (filters.namespace !== undefined) where.push(exists(sql`q.namespace = ${filters.namespace}`));
      if (filters.agent !== undefined) where.push(exists(sql`(q.agent = ${filters.agent} OR q.target_name = ${filters.agent})`));
      // Each status and error filter first tests what the summary's rule needs (partial indexes of
      // migrations/0070), so only candidate sessions get a summary: active = some query unfinished;
      // error = none unfinished and the latest one failed, so some query failed; idle = none unfinished.
      const unfinished = exists(sql`q.phase IN ('running', 'pending')`);
      if (filters.hasErrors !== undefined) {
        const erred = exists(sql`q.error_at IS NOT NULL`);
        where.push(filters.hasErrors ? erred : sql`NOT ${erred}`);
      }
      if (filters.status === 'active') where.push(unfinished);
      if (filters.status === 'error') where.push(sql`NOT ${unfinished}`, exists(sql`q.phase = 'error'`));
      if (filters.status === 'idle') where.push(sql`NOT ${unfinished}`);
      // A summary reads all of its session's queries. Without a status filter the page is chosen first
      // and only its sessions are summarised: left to the planner, a table without statistics (a new
      // database, autovacuum off) got the summary of every session of the tenant, then a sort.
      const select = async (extra: RawBuilder<unknown>[]) => {
        const conditions = sql.join([...where, ...extra], sql` AND `);
        const statement =
          filters.status === undefined
            ? sql<SessionSummaryRow>`
                SELECT ${COLUMNS}
                FROM (SELECT * FROM sessions s WHERE ${conditions} ORDER BY s.last_activity_at DESC, s.session_id LIMIT ${limit + 1}) s
                ${sessionSummary}
                ORDER BY s.last_activity_at DESC, s.session_id`
            : sql<SessionSummaryRow>`
                SELECT ${COLUMNS}
                FROM sessions s ${sessionSummary}
                WHERE ${conditions} AND a.status = ${filters.status}
                ORDER BY s.last_activity_at DESC, s.session_id
                LIMIT ${limit + 1}`;
        return (await statement.execute(db)).rows;
      };
      // With `to`, activity overlapping [from, to] is two disjoint sets, each read by an index: last
      // activity within the range (sessions_recent), or still active after `to` having started by then
      // (its span contains `to`: ark_sessions_spanning, migrations/0071). The page is the first rows of
      // both merged.
      const to = filters.to;
      const page = async (extra: RawBuilder<unknown>[]) => {
        if (!to) return select(extra);
        const [within, spanning] = await Promise.all([
          select([...extra, sql`s.last_activity_at <= ${to}`]),
          select([...extra, sql`s.last_activity_at > ${to}`, sql`s.session_id IN (SELECT ark_sessions_spanning(${scope.tenantId}, ${to}::timestamptz))`]),
        ]);
        // Read apart, a session whose activity moved past `to` in between can be in both: keep it once.
        const seen = new Set(spanning.map((r) => r.session_id));
        return [...spanning, ...within.filter((r) => !seen.has(r.session_id))].slice(0, limit + 1);
      };
      if (filters.search === undefined) return page([]);
      // Text that many sessions contain is found fastest by testing the newest sessions one by one;
      // rare text through the trigram indexes (migrations/0060), whose cost grows with the matches.
      // So: the SEARCH_WINDOW newest sessions after the cursor first. A full page there is the right
      // page (every session outside the window is older); otherwise the indexes answer.
      const p = likePattern(filters.search);
      const afterW = after ? sql`AND ${pastCursor(sql`w`, after)}` : sql``;
      const rows = await page([
        sql`s.session_id IN (SELECT w.session_id FROM sessions w WHERE w.tenant_id = ${scope.tenantId} ${afterW}
                             ORDER BY w.last_activity_at DESC, w.session_id LIMIT ${SEARCH_WINDOW})`,
        sql`(s.session_id ILIKE ${p} OR ${exists(sql`(q.query_name ILIKE ${p} OR q.agent ILIKE ${p} OR q.target_name ILIKE ${p})`)})`,
      ]);
      if (rows.length > limit) return rows;
      return page([sql`s.session_id IN (SELECT ark_sessions_search(${scope.tenantId}, ${p}))`]);
    });
  }

  /** One session, or undefined when the scope does not see it. */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN, 's'] }, { name: 'reader', params: [EXAMPLE_READER, 's'] })
  async find(scope: ReadScope, sessionId: string, db: Kysely<Database> = this.connection.db): Promise<SessionSummaryRow | undefined> {
    return inScope(scope, async () => {
      const { rows } = await sql<SessionSummaryRow>`${PREPARED}
        SELECT s.session_id, s.user_id, s.first_activity_at, s.last_activity_at, s.event_count, s.last_sequence,
               a.query_count, a.error_query_count, a.has_errors, a.status, a.namespaces, a.agents, a.teams, a.models, a.tools,
               a.tokens_input, a.tokens_output, a.tokens_total
        FROM sessions s ${sessionSummary}
        WHERE s.tenant_id = ${scope.tenantId} AND s.session_id = ${sessionId} AND ${sessionShown(scope, 's')}`.execute(db);
      return rows[0];
    });
  }

  /** The session's unexpired messages (the caller checked that the scope sees the session). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 's'] })
  async messageCount(scope: ReadScope, sessionId: string, db: Kysely<Database> = this.connection.db): Promise<number> {
    return inScope(scope, async () => {
      const { rows } = await sql<{
        n: number;
      }>`${PREPARED}SELECT count(*)::int AS n FROM messages WHERE tenant_id = ${scope.tenantId} AND session_id = ${sessionId}
                           AND (expires_at IS NULL OR expires_at > now())`.execute(db);
      return rows[0]?.n ?? 0;
    });
  }

  /** Up to `limit` of the session's unexpired messages, newest first, before a position (the caller checked that the scope sees the session). */
  @GenerateSql({ name: 'newest', params: [EXAMPLE_ADMIN, 's', 101] }, { name: 'older', params: [EXAMPLE_ADMIN, 's', 101, 1000] })
  async messages(scope: ReadScope, sessionId: string, limit: number, before?: number, db: Kysely<Database> = this.connection.db): Promise<SessionMessageRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<SessionMessageRow>`${PREPARED}
        SELECT global_position, conversation_id, query_id, message, recorded_at FROM messages
        WHERE tenant_id = ${scope.tenantId} AND session_id = ${sessionId} AND global_position < ${before ?? Number.MAX_SAFE_INTEGER}
          AND (expires_at IS NULL OR expires_at > now())
        ORDER BY global_position DESC LIMIT ${limit}`.execute(db);
      return rows;
    });
  }
}
