import { Injectable } from '@nestjs/common';
import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import {
  DatabaseConnection,
  PREPARED,
  type Database,
  type LlmCallsTable as LlmCallsSchema,
  type QueriesTable as QueriesSchema,
  type ToolCallsTable as ToolCallsSchema,
} from '#ark/database';

type QueriesTable = Selectable<QueriesSchema>;
type ToolCallsTable = Selectable<ToolCallsSchema>;
type LlmCallsTable = Selectable<LlmCallsSchema>;
import { ApiError } from '#ark/http';
import type { SessionStatusV2 } from './dto/sessions-v2.dto.js';

/** Who may see what: the tenant always; a non-admin caller only the sessions they own. */
export interface Visibility {
  tenantId: string;
  /** Set for callers who see only their own sessions. */
  ownerId?: string;
}

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

export interface ToolCallFilters {
  sessionId?: string;
  queryId?: string;
  mcpSessionId?: string;
  toolName?: string;
}

/**
 * Caps of the session aggregate. Tool and LLM calls are listed for the `detailedQueries` newest
 * queries and every unfinished one; the others (finished, older) are summaries, their call lists
 * empty with the totals (docs/architecture.md#session-aggregate), and `GET /v2/tool-calls?queryId=` pages them.
 */
export const AGGREGATE_LIMITS = { queries: 100, detailedQueries: 20, toolCallsPerQuery: 100, llmCallsPerQuery: 100, pendingApprovals: 50 } as const;

const UNFINISHED_PHASES = new Set(['pending', 'running', 'unknown']);

/** Newest sessions a search tests one by one before it asks the trigram indexes (listSessions). */
const SEARCH_WINDOW = 300;

export interface Page<T> {
  items: T[];
  hasMore: boolean;
  nextCursor: string | null;
}

export interface CappedList<T> {
  items: T[];
  total: number;
  truncated: boolean;
}

// --- keyset cursors: base64url of the JSON sort key of the last row -----------------------------

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<T extends readonly unknown[]>(text: string, check: (v: unknown[]) => v is unknown[] & T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || !check(value)) throw ApiError.badRequest('bad cursor: pass the nextCursor of a previous page', 'invalid_cursor');
  return value;
}

const isSessionKey = (v: unknown[]): v is [string, string] =>
  v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string';
// Queries page by (start time in microseconds, key): a Date would round the time to milliseconds.
const isQueryKey = (v: unknown[]): v is [number, string] => v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string';
const queryCursor = (q: QueriesTable & { started_us: string }) => encodeCursor([Number(q.started_us), q.query_key]);
/** Every name a query's chunks and approvals may be filed under (its UID, name and key). */
const queryNames = (queries: readonly QueriesTable[]) => [
  ...new Set(queries.flatMap((q) => [q.query_id, q.query_name, q.query_key]).filter((x): x is string => x !== null)),
];
const isToolCallKey = (v: unknown[]): v is [number, string] => v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string';

const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
const ms = (d: Date | null) => (d ? d.toISOString() : null);
const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

// --- row → JSON ------------------------------------------------------------------------------------

interface SessionListRow {
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

function sessionJson(r: SessionListRow) {
  return {
    sessionId: r.session_id,
    userId: r.user_id,
    status: r.status,
    firstActivityAt: r.first_activity_at.toISOString(),
    lastActivityAt: r.last_activity_at.toISOString(),
    eventCount: Number(r.event_count),
    lastSequence: Number(r.last_sequence),
    queryCount: r.query_count,
    errorQueryCount: r.error_query_count,
    hasErrors: r.has_errors,
    namespaces: r.namespaces,
    agents: r.agents,
    teams: r.teams,
    models: r.models,
    tools: r.tools,
    tokens: { input: r.tokens_input, output: r.tokens_output, total: r.tokens_total },
  };
}
export type SessionJson = ReturnType<typeof sessionJson>;

export function queryJson(q: QueriesTable) {
  return {
    queryKey: q.query_key,
    queryId: q.query_id,
    queryName: q.query_name,
    sessionId: q.session_id,
    namespace: q.namespace,
    userId: q.user_id,
    target: q.target_type || q.target_name ? { type: q.target_type, name: q.target_name } : null,
    agent: q.agent,
    phase: q.phase,
    input: q.input,
    response: q.response,
    error: q.phase === 'error' ? q.error : null,
    lastError: q.error_at ? { error: q.error, at: q.error_at.toISOString() } : null,
    startedAt: q.started_at.toISOString(),
    completedAt: ms(q.completed_at),
    lastEventAt: q.last_event_at.toISOString(),
    durationMs: q.duration_ms ?? (q.completed_at ? q.completed_at.getTime() - q.started_at.getTime() : null),
    tokens: { input: n(q.tokens_input), output: n(q.tokens_output), total: n(q.tokens_total) },
    eventCount: Number(q.event_count),
  };
}

export function toolCallJson(t: ToolCallsTable & { session_id?: string | null }) {
  return {
    id: t.call_key,
    queryKey: t.query_key,
    queryId: t.query_id,
    sessionId: t.session_id ?? null,
    toolName: t.tool_name,
    toolType: t.tool_type,
    toolId: t.tool_id,
    status: t.status,
    parameters: t.parameters,
    result: t.result,
    error: t.error,
    mcpSessionId: t.mcp_session_id,
    traceId: t.trace_id,
    spanId: t.span_id,
    parentSpanId: t.parent_span_id,
    startedAt: ms(t.started_at),
    endedAt: ms(t.ended_at),
    durationMs: t.duration_ms ?? (t.started_at && t.ended_at ? t.ended_at.getTime() - t.started_at.getTime() : null),
  };
}

export function llmCallJson(l: LlmCallsTable) {
  const input = n(l.tokens_input);
  const output = n(l.tokens_output);
  return {
    id: l.call_key,
    queryKey: l.query_key,
    model: l.model,
    modelType: l.model_type,
    status: l.status,
    error: l.error,
    tokens: { input, output, total: n(l.tokens_total) ?? (input !== null || output !== null ? (input ?? 0) + (output ?? 0) : null) },
    traceId: l.trace_id,
    spanId: l.span_id,
    parentSpanId: l.parent_span_id,
    startedAt: ms(l.started_at),
    endedAt: ms(l.ended_at),
    durationMs: l.duration_ms ?? (l.started_at && l.ended_at ? l.ended_at.getTime() - l.started_at.getTime() : null),
    firstChunkAt: ms(l.first_chunk_at),
    timeToFirstTokenMs: l.first_chunk_at && l.started_at ? l.first_chunk_at.getTime() - l.started_at.getTime() : null,
  };
}

interface ChunkSummaryRow {
  query: string;
  chunks: number;
  first_at: Date | null;
  last_at: Date | null;
  completed: boolean;
}

const emptyChunks = { count: 0, firstChunkAt: null as string | null, lastChunkAt: null as string | null, streamCompleted: false };

/**
 * The SQL behind the native sessions API, over `sessions` and the `queries` / `tool_calls` /
 * `llm_calls` read models. Every statement is scoped to the caller's tenant (and owner).
 */
@Injectable()
export class SessionsV2Repository {
  constructor(private readonly connection: DatabaseConnection) {}

  get db(): Kysely<Database> {
    return this.connection.db;
  }

  /** Runs `work` on one consistent snapshot (the watch's aggregate and its sequence). */
  snapshot<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute((trx) => work(trx));
  }

  /** Each session's work from its queries (ark_session_work, migrations/0110: inlined, one index scan). */
  private sessionSummary(): RawBuilder<unknown> {
    return sql`CROSS JOIN LATERAL ark_session_work(s.tenant_id, s.session_id) a`;
  }

  private owner(scope: Visibility, alias: RawBuilder<unknown>): RawBuilder<unknown> {
    return scope.ownerId === undefined ? sql`true` : sql`${alias}.user_id = ${scope.ownerId}`;
  }

  /** `GET /v2/sessions`: newest last activity first (ties by id); the cursor is the last row's sort key. */
  async listSessions(scope: Visibility, filters: SessionListFilters, limit: number, cursor: string | undefined): Promise<Page<SessionJson>> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor, isSessionKey);
    const exists = (cond: RawBuilder<unknown>) =>
      sql`EXISTS (SELECT 1 FROM queries q WHERE q.tenant_id = s.tenant_id AND q.session_id = s.session_id AND ${cond})`;
    const where: RawBuilder<unknown>[] = [sql`s.tenant_id = ${scope.tenantId}`, this.owner(scope, sql`s`)];
    // Past the cursor in the list's order (newest activity first, ties by id).
    const pastCursor = (alias: RawBuilder<unknown>, [at, id]: [string, string]) =>
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
    const columns = sql`s.session_id, s.user_id, s.first_activity_at, s.last_activity_at, s.event_count, s.last_sequence,
                 a.query_count, a.error_query_count, a.has_errors, a.status, a.namespaces, a.agents, a.teams, a.models, a.tools,
                 a.tokens_input, a.tokens_output, a.tokens_total`;
    // A summary reads all of its session's queries. Without a status filter the page is chosen first
    // and only its sessions are summarised: left to the planner, a table without statistics (a new
    // database, autovacuum off) got the summary of every session of the tenant, then a sort.
    const select = async (extra: RawBuilder<unknown>[]) => {
      const conditions = sql.join([...where, ...extra], sql` AND `);
      const statement =
        filters.status === undefined
          ? sql<SessionListRow>`
              SELECT ${columns}
              FROM (SELECT * FROM sessions s WHERE ${conditions} ORDER BY s.last_activity_at DESC, s.session_id LIMIT ${limit + 1}) s
              ${this.sessionSummary()}
              ORDER BY s.last_activity_at DESC, s.session_id`
          : sql<SessionListRow>`
              SELECT ${columns}
              FROM sessions s ${this.sessionSummary()}
              WHERE ${conditions} AND a.status = ${filters.status}
              ORDER BY s.last_activity_at DESC, s.session_id
              LIMIT ${limit + 1}`;
      return (await statement.execute(this.db)).rows;
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
    let rows: SessionListRow[];
    if (filters.search === undefined) {
      rows = await page([]);
    } else {
      // Text that many sessions contain is found fastest by testing the newest sessions one by one;
      // rare text through the trigram indexes (migrations/0060), whose cost grows with the matches.
      // So: the SEARCH_WINDOW newest sessions after the cursor first. A full page there is the right
      // page (every session outside the window is older); otherwise the indexes answer.
      const p = likePattern(filters.search);
      const afterW = after ? sql`AND ${pastCursor(sql`w`, after)}` : sql``;
      rows = await page([
        sql`s.session_id IN (SELECT w.session_id FROM sessions w WHERE w.tenant_id = ${scope.tenantId} ${afterW}
                             ORDER BY w.last_activity_at DESC, w.session_id LIMIT ${SEARCH_WINDOW})`,
        sql`(s.session_id ILIKE ${p} OR ${exists(sql`(q.query_name ILIKE ${p} OR q.agent ILIKE ${p} OR q.target_name ILIKE ${p})`)})`,
      ]);
      if (rows.length <= limit) rows = await page([sql`s.session_id IN (SELECT ark_sessions_search(${scope.tenantId}, ${p}))`]);
    }
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    const hasMore = rows.length > limit;
    return {
      items: items.map(sessionJson),
      hasMore,
      nextCursor: hasMore && last ? encodeCursor([last.last_activity_at.toISOString(), last.session_id]) : null,
    };
  }

  /** One session's list entry, or undefined when the caller cannot see it. */
  async session(db: Kysely<Database>, scope: Visibility, sessionId: string): Promise<SessionJson | undefined> {
    const { rows } = await sql<SessionListRow>`${PREPARED}
      SELECT s.session_id, s.user_id, s.first_activity_at, s.last_activity_at, s.event_count, s.last_sequence,
             a.query_count, a.error_query_count, a.has_errors, a.status, a.namespaces, a.agents, a.teams, a.models, a.tools,
             a.tokens_input, a.tokens_output, a.tokens_total
      FROM sessions s ${this.sessionSummary()}
      WHERE s.tenant_id = ${scope.tenantId} AND s.session_id = ${sessionId} AND ${this.owner(scope, sql`s`)}`.execute(db);
    return rows[0] && sessionJson(rows[0]);
  }

  /**
   * `GET /v2/sessions/:id`: the session, its newest queries (each with its tool calls, LLM calls and
   * chunk summary; a cursor to the older ones), the message count and pending approvals, every list
   * capped (AGGREGATE_LIMITS); calls are listed for the newest and the unfinished queries only.
   */
  async aggregate(db: Kysely<Database>, scope: Visibility, sessionId: string) {
    const session = await this.session(db, scope, sessionId);
    if (!session) return undefined;
    const t = scope.tenantId;
    const [queryRows, { rows: messageRows }] = await Promise.all([
      this.queriesOf(db, t, sessionId, AGGREGATE_LIMITS.queries, undefined),
      sql<{ n: number }>`${PREPARED}SELECT count(*)::int AS n FROM messages WHERE tenant_id = ${t} AND session_id = ${sessionId}
                         AND (expires_at IS NULL OR expires_at > now())`.execute(db),
    ]);
    // Oldest first within the page, as the tree is drawn.
    queryRows.reverse();
    const newest = new Set(queryRows.slice(-AGGREGATE_LIMITS.detailedQueries).map((q) => q.query_key));
    const detailed = queryRows.filter((q) => newest.has(q.query_key) || UNFINISHED_PHASES.has(q.phase)).map((q) => q.query_key);
    const [items, approvals] = await Promise.all([this.withCalls(db, t, queryRows, detailed), this.pendingApprovals(db, t, sessionId, queryNames(queryRows))]);
    const queriesTotal = Number(queryRows[0]?.total ?? 0);
    const oldest = queryRows[0];
    const truncated = queriesTotal > queryRows.length;
    return {
      session,
      queries: { items, total: queriesTotal, truncated, nextCursor: truncated && oldest ? queryCursor(oldest) : null },
      messages: { count: messageRows[0]?.n ?? 0 },
      pendingApprovals: approvals,
      limits: AGGREGATE_LIMITS,
    };
  }

  /**
   * `GET /v2/sessions/:id/queries`: the session's queries newest first, keyset-paginated (the
   * aggregate's `queries.nextCursor` continues past its oldest), each with its calls listed.
   * Undefined when the session is not the caller's.
   */
  async sessionQueries(
    scope: Visibility,
    sessionId: string,
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<ReturnType<SessionsV2Repository['queryWithCalls']>> | undefined> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor, isQueryKey);
    return this.snapshot(async (db) => {
      if (!(await this.session(db, scope, sessionId))) return undefined;
      const rows = await this.queriesOf(db, scope.tenantId, sessionId, limit + 1, after);
      const page = rows.slice(0, limit);
      const items = await this.withCalls(
        db,
        scope.tenantId,
        page,
        page.map((q) => q.query_key),
      );
      const last = page.at(-1);
      const hasMore = rows.length > limit;
      return { items, hasMore, nextCursor: hasMore && last ? queryCursor(last) : null };
    });
  }

  /** A session's queries newest first (started_at, then key), older than `before`, with the session's total. */
  private async queriesOf(db: Kysely<Database>, tenantId: string, sessionId: string, limit: number, before: [number, string] | undefined) {
    const startedUs = sql`(extract(epoch FROM q.started_at) * 1000000)::bigint`;
    const older = before ? sql`AND (${startedUs}, q.query_key) < (${before[0]}::bigint, ${before[1]})` : sql``;
    const { rows } = await sql<QueriesTable & { total: string; started_us: string }>`${PREPARED}
      SELECT q.*, ${startedUs} AS started_us, count(*) OVER () AS total FROM queries q
      WHERE q.tenant_id = ${tenantId} AND q.session_id = ${sessionId} ${older}
      ORDER BY q.started_at DESC, q.query_key DESC LIMIT ${limit}`.execute(db);
    return rows;
  }

  /** The queries as JSON with their tool calls and LLM calls (listed for `detailed`, totals for all) and chunk summaries. */
  private async withCalls(db: Kysely<Database>, tenantId: string, queries: QueriesTable[], detailed: string[]) {
    const keys = queries.map((q) => q.query_key);
    const [tools, llms, chunks] = await Promise.all([
      this.toolCallsOf(db, tenantId, keys, detailed, AGGREGATE_LIMITS.toolCallsPerQuery),
      this.llmCallsOf(db, tenantId, keys, detailed, AGGREGATE_LIMITS.llmCallsPerQuery),
      this.chunkSummaries(db, tenantId, queryNames(queries)),
    ]);
    return queries.map((q) => this.queryWithCalls(q, tools, llms, chunks));
  }

  /** `GET /v2/queries/:id`: by key, UID or name (the most recent when a name repeats). */
  async query(scope: Visibility, id: string) {
    const t = scope.tenantId;
    const { rows } = await sql<QueriesTable>`
      SELECT q.* FROM queries q
      WHERE q.tenant_id = ${t} AND (q.query_key = ${id} OR q.query_id = ${id} OR q.query_name = ${id})
        AND (${scope.ownerId ?? null}::text IS NULL OR EXISTS (
              SELECT 1 FROM sessions s WHERE s.tenant_id = q.tenant_id AND s.session_id = q.session_id AND s.user_id = ${scope.ownerId ?? null}))
      ORDER BY (q.query_key = ${id}) DESC, (q.query_id = ${id}) DESC, q.started_at DESC, q.query_key LIMIT 1`.execute(this.db);
    const q = rows[0];
    if (!q) return undefined;
    const [withCalls] = await this.withCalls(this.db, t, [q], [q.query_key]);
    return { ...withCalls!, limits: { toolCalls: AGGREGATE_LIMITS.toolCallsPerQuery, llmCalls: AGGREGATE_LIMITS.llmCallsPerQuery } };
  }

  /** `GET /v2/tool-calls`: oldest first by the position of their first event. */
  async listToolCalls(scope: Visibility, filters: ToolCallFilters, limit: number, cursor: string | undefined): Promise<Page<ReturnType<typeof toolCallJson>>> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor, isToolCallKey);
    const t = scope.tenantId;
    const where: RawBuilder<unknown>[] = [sql`c.tenant_id = ${t}`];
    if (scope.ownerId !== undefined) {
      where.push(sql`EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = c.tenant_id AND s.session_id = q.session_id AND s.user_id = ${scope.ownerId})`);
    }
    if (after) where.push(sql`(c.first_position, c.call_key) > (${after[0]}::bigint, ${after[1]})`);
    if (filters.mcpSessionId !== undefined) where.push(sql`c.mcp_session_id = ${filters.mcpSessionId}`);
    if (filters.toolName !== undefined) where.push(sql`c.tool_name = ${filters.toolName}`);
    if (filters.sessionId !== undefined) {
      where.push(sql`c.query_key IN (SELECT query_key FROM queries WHERE tenant_id = ${t} AND session_id = ${filters.sessionId})`);
    }
    if (filters.queryId !== undefined) {
      where.push(sql`(c.query_key = ${filters.queryId} OR c.query_id = ${filters.queryId}
                      OR c.query_key IN (SELECT query_key FROM queries WHERE tenant_id = ${t} AND query_name = ${filters.queryId}))`);
    }
    const { rows } = await sql<ToolCallsTable & { session_id: string | null }>`
      SELECT c.*, q.session_id FROM tool_calls c
      LEFT JOIN queries q ON q.tenant_id = c.tenant_id AND q.query_key = c.query_key
      WHERE ${sql.join(where, sql` AND `)}
      ORDER BY c.first_position, c.call_key LIMIT ${limit + 1}`.execute(this.db);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    const hasMore = rows.length > limit;
    return { items: items.map(toolCallJson), hasMore, nextCursor: hasMore && last ? encodeCursor([Number(last.first_position), last.call_key]) : null };
  }

  private queryWithCalls(
    q: QueriesTable,
    tools: Map<string, CappedList<ReturnType<typeof toolCallJson>>>,
    llms: Map<string, CappedList<ReturnType<typeof llmCallJson>>>,
    chunks: Map<string, ChunkSummaryRow>,
  ) {
    const chunk = [q.query_key, q.query_id, q.query_name].map((k) => (k === null ? undefined : chunks.get(k))).find((c) => c !== undefined);
    const none = { items: [], total: 0, truncated: false };
    const llmCalls = llms.get(q.query_key) ?? none;
    return {
      ...queryJson(q),
      toolCalls: tools.get(q.query_key) ?? none,
      llmCalls,
      chunks: chunk
        ? { count: Number(chunk.chunks), firstChunkAt: ms(chunk.first_at), lastChunkAt: ms(chunk.last_at), streamCompleted: chunk.completed }
        : emptyChunks,
    };
  }

  private toolCallsOf(db: Kysely<Database>, tenantId: string, keys: string[], detailed: string[], cap: number) {
    return this.callsOf(db, sql.raw('tool_calls'), tenantId, keys, detailed, cap, (r: ToolCallsTable) => toolCallJson(r));
  }

  private llmCallsOf(db: Kysely<Database>, tenantId: string, keys: string[], detailed: string[], cap: number) {
    return this.callsOf(db, sql.raw('llm_calls'), tenantId, keys, detailed, cap, (r: LlmCallsTable) => llmCallJson(r));
  }

  /**
   * Per query of `keys`, the total of its calls (tool_calls or llm_calls) and, for the `detailed`
   * ones, the first `cap` in log order, in one statement: totals are counted from the (tenant,
   * query_key) index, and only the detailed queries' calls are read (a LATERAL per listed query), so
   * the calls of summarised queries are never fetched.
   */
  private async callsOf<Row extends { query_key: string }, Json>(
    db: Kysely<Database>,
    table: RawBuilder<unknown>,
    tenantId: string,
    keys: string[],
    detailed: string[],
    cap: number,
    toJson: (row: Row) => Json,
  ): Promise<Map<string, CappedList<Json>>> {
    const out = new Map<string, CappedList<Json>>();
    if (keys.length === 0) return out;
    const { rows } = await sql<{ counted_key: string; total: number; query_key: string | null }>`${PREPARED}
      SELECT t.query_key AS counted_key, t.total, c.*
      FROM (SELECT query_key, count(*)::int AS total FROM ${table}
            WHERE tenant_id = ${tenantId} AND query_key = ANY(${keys}::text[]) GROUP BY query_key) t
      LEFT JOIN LATERAL (
        SELECT * FROM ${table} c
        WHERE c.tenant_id = ${tenantId} AND c.query_key = t.query_key AND t.query_key = ANY(${detailed}::text[])
        ORDER BY c.first_position, c.call_key LIMIT ${cap}
      ) c ON true
      ORDER BY t.query_key, c.first_position, c.call_key`.execute(db);
    const listedKeys = new Set(detailed);
    for (const r of rows) {
      let list = out.get(r.counted_key);
      if (!list) out.set(r.counted_key, (list = { items: [], total: r.total, truncated: r.total > (listedKeys.has(r.counted_key) ? cap : 0) }));
      // Undetailed queries come back as one row of totals with no call (NULL c.*).
      if (r.query_key !== null) list.items.push(toJson(r as unknown as Row));
    }
    return out;
  }

  /** Chunk count, first/last chunk time and completion per query id (chunks are keyed by the upload path's query). */
  private async chunkSummaries(db: Kysely<Database>, tenantId: string, queries: string[]): Promise<Map<string, ChunkSummaryRow>> {
    if (queries.length === 0) return new Map();
    const { rows } = await sql<ChunkSummaryRow>`${PREPARED}
      SELECT query_id AS query, count(*) FILTER (WHERE type = 'llm.chunk')::int AS chunks,
             min(time) FILTER (WHERE type = 'llm.chunk') AS first_at, max(time) FILTER (WHERE type = 'llm.chunk') AS last_at,
             bool_or(type = 'llm.stream.completed') AS completed
      FROM events WHERE tenant_id = ${tenantId} AND query_id = ANY(${queries}::text[]) AND source = 'chunk'
      GROUP BY query_id`.execute(db);
    return new Map(rows.map((r) => [r.query, r]));
  }

  /** `approval.requested` chunks of the session (or its queries) with no `approval.resolved` for their task. */
  private async pendingApprovals(db: Kysely<Database>, tenantId: string, sessionId: string, queries: string[]) {
    const { rows } = await sql<{
      query_id: string | null;
      task_id: string | null;
      tool_calls: unknown;
      time: Date;
      sequence: string;
      session_id: string;
      total: string;
    }>`${PREPARED}
      WITH approvals AS (
        SELECT type, query_id, data->>'taskId' AS task_id, data->'toolCalls' AS tool_calls, time, sequence, session_id, global_position
        FROM events
        WHERE tenant_id = ${tenantId} AND type IN ('approval.requested', 'approval.resolved')
          AND (session_id = ${sessionId} OR query_id = ANY(${queries}::text[]))
      ), pending AS (
        SELECT r.* FROM approvals r
        WHERE r.type = 'approval.requested' AND NOT EXISTS (
          SELECT 1 FROM approvals x WHERE x.type = 'approval.resolved' AND x.query_id IS NOT DISTINCT FROM r.query_id
            AND (x.task_id = r.task_id OR (r.task_id IS NULL AND x.global_position > r.global_position)))
      )
      SELECT query_id, task_id, tool_calls, time, sequence, session_id, count(*) OVER () AS total
      FROM pending ORDER BY global_position LIMIT ${AGGREGATE_LIMITS.pendingApprovals}`.execute(db);
    const total = Number(rows[0]?.total ?? 0);
    return {
      items: rows.map((r) => ({
        queryId: r.query_id,
        taskId: r.task_id,
        toolCalls: r.tool_calls,
        requestedAt: r.time.toISOString(),
        sessionId: r.session_id,
        sequence: Number(r.sequence),
      })),
      total,
      truncated: total > rows.length,
    };
  }
}
