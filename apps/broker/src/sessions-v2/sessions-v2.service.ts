import { Injectable } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import type { Kysely } from 'kysely';
import { DatabaseConnection, inScope, type Database, type ReadScope } from '#ark/database';
import { NotFoundError } from '#ark/errors';
import type { ArkEvent } from '#ark/event-store';
import { FindQueryExecutionQuery } from '../executions/find-query-execution.query.js';
import { a2aTasksByQuery } from './a2a-tasks.js';
import { messageCursor, queryCursor, sessionCursor, toolCallCursor } from './keyset-cursor.js';
import { LlmCallRepository } from './llm-call.repository.js';
import { QueryRepository, type QueryRow, type SessionQueryRow } from './query.repository.js';
import { RawEventRepository } from './raw-event.repository.js';
import { SessionSummaryRepository, type SessionListFilters, type SessionMessageRow } from './session-summary.repository.js';
import {
  messageJson,
  pendingApprovalsJson,
  queryWithCallsJson,
  sessionJson,
  toolCallJson,
  type QueryWithCallsJson,
  type SessionJson,
  type ToolCallJson,
} from './sessions-v2.presenter.js';
import { ToolCallRepository, type ToolCallFilters } from './tool-call.repository.js';

/**
 * Caps of the session aggregate. Tool and LLM calls are listed for the `detailedQueries` newest
 * queries and every unfinished one; the others (finished, older) are summaries, their call lists
 * empty with the totals (docs/architecture.md#session-aggregate), and `GET /v2/tool-calls?queryId=` pages them.
 */
export const AGGREGATE_LIMITS = {
  queries: 100,
  detailedQueries: 20,
  toolCallsPerQuery: 100,
  llmCallsPerQuery: 100,
  pendingApprovals: 50,
  messages: 100,
  /** The newest `a2a.task.*` events of the session folded into its queries' A2A tasks. */
  a2aTaskEvents: 1_000,
} as const;

const UNFINISHED_PHASES = new Set(['pending', 'running', 'unknown']);

export interface Page<T> {
  items: T[];
  hasMore: boolean;
  nextCursor: string | null;
}

/** A page of `limit` from `limit + 1` rows: the extra row only says that more follow. */
function pageOf<Row, Json>(rows: readonly Row[], limit: number, toJson: (row: Row) => Json, cursorOf: (last: Row) => string): Page<Json> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const hasMore = rows.length > limit;
  return { items: items.map(toJson), hasMore, nextCursor: hasMore && last ? cursorOf(last) : null };
}

/** The aggregate's messages: oldest first within the page, and a cursor to the older ones. */
function messagePage(rows: readonly SessionMessageRow[], truncated: boolean) {
  const oldest = rows[0];
  return { items: rows.map(messageJson), truncated, nextCursor: truncated && oldest ? messageCursor.encode([Number(oldest.global_position)]) : null };
}

/** Every name a query's chunks and approvals may be filed under (its UID, name and key). */
const queryNames = (queries: readonly QueryRow[]) => [
  ...new Set(queries.flatMap((q) => [q.query_id, q.query_name, q.query_key]).filter((x): x is string => x !== null)),
];
const queryCursorOf = (q: SessionQueryRow) => queryCursor.encode([Number(q.started_us), q.query_key]);

/** The native sessions API over `sessions` and the `queries` / `tool_calls` / `llm_calls` read models, for one read scope. */
@Injectable()
export class SessionsV2Service {
  constructor(
    private readonly connection: DatabaseConnection,
    private readonly sessions: SessionSummaryRepository,
    private readonly queries: QueryRepository,
    private readonly toolCalls: ToolCallRepository,
    private readonly llmCalls: LlmCallRepository,
    private readonly events: RawEventRepository,
    private readonly queryBus: QueryBus,
  ) {}

  /** `GET /v2/sessions`: newest last activity first (ties by id); the cursor is the last row's sort key. */
  async listSessions(scope: ReadScope, filters: SessionListFilters, limit: number, cursor: string | undefined): Promise<Page<SessionJson>> {
    const after = cursor === undefined ? undefined : sessionCursor.decode(cursor);
    const rows = await this.sessions.list(scope, filters, limit, after);
    return pageOf(rows, limit, sessionJson, (last) => sessionCursor.encode([last.last_activity_at.toISOString(), last.session_id]));
  }

  /** The session's list entry; NotFoundError when the scope does not see it. */
  async session(scope: ReadScope, sessionId: string, db?: Kysely<Database>): Promise<SessionJson> {
    const row = await this.sessions.find(scope, sessionId, db);
    if (!row) throw new NotFoundError(`session ${sessionId} not found`);
    return sessionJson(row);
  }

  /**
   * `GET /v2/sessions/:id`: the session, its newest queries (each with its tool calls, LLM calls and
   * chunk summary; a cursor to the older ones), the message count and pending approvals, every list
   * capped (AGGREGATE_LIMITS); calls are listed for the newest and the unfinished queries only. Read
   * on one snapshot, so the session's `lastSequence` is the sequence the whole aggregate reflects.
   */
  aggregate(scope: ReadScope, sessionId: string) {
    return this.snapshot(scope, async (db) => {
      const session = await this.session(scope, sessionId, db);
      const [queryRows, messageCount, messageRows] = await Promise.all([
        this.queries.ofSession(scope, sessionId, AGGREGATE_LIMITS.queries, undefined, db),
        this.sessions.messageCount(scope, sessionId, db),
        this.sessions.messages(scope, sessionId, AGGREGATE_LIMITS.messages, undefined, db),
      ]);
      // Oldest first within the page, as the tree is drawn.
      queryRows.reverse();
      const newest = new Set(queryRows.slice(-AGGREGATE_LIMITS.detailedQueries).map((q) => q.query_key));
      const detailed = queryRows.filter((q) => newest.has(q.query_key) || UNFINISHED_PHASES.has(q.phase)).map((q) => q.query_key);
      const [withCalls, approvals, a2aEvents] = await Promise.all([
        this.withCalls(db, scope, queryRows, detailed),
        this.events.pendingApprovals(scope, sessionId, queryNames(queryRows), AGGREGATE_LIMITS.pendingApprovals, db),
        this.events.a2aTaskEvents(scope, sessionId, AGGREGATE_LIMITS.a2aTaskEvents, db),
      ]);
      const tasks = a2aTasksByQuery(queryRows, a2aEvents);
      const items = withCalls.map((q) => ({ ...q, a2aTasks: tasks.get(q.queryKey) ?? [] }));
      const queriesTotal = Number(queryRows[0]?.total ?? 0);
      const oldest = queryRows[0];
      const truncated = queriesTotal > queryRows.length;
      return {
        session,
        queries: { items, total: queriesTotal, truncated, nextCursor: truncated && oldest ? queryCursorOf(oldest) : null },
        messages: { count: messageCount, ...messagePage(messageRows.toReversed(), messageCount > messageRows.length) },
        pendingApprovals: pendingApprovalsJson(approvals),
        limits: AGGREGATE_LIMITS,
      };
    });
  }

  /**
   * `GET /v2/sessions/:id/queries`: the session's queries newest first, keyset-paginated (the
   * aggregate's `queries.nextCursor` continues past its oldest), each with its calls listed.
   */
  async sessionQueries(scope: ReadScope, sessionId: string, limit: number, cursor: string | undefined): Promise<Page<QueryWithCallsJson>> {
    const before = cursor === undefined ? undefined : queryCursor.decode(cursor);
    return this.snapshot(scope, async (db) => {
      await this.session(scope, sessionId, db);
      const rows = await this.queries.ofSession(scope, sessionId, limit + 1, before, db);
      const page = rows.slice(0, limit);
      const items = await this.withCalls(
        db,
        scope,
        page,
        page.map((q) => q.query_key),
      );
      const last = page.at(-1);
      const hasMore = rows.length > limit;
      return { items, hasMore, nextCursor: hasMore && last ? queryCursorOf(last) : null };
    });
  }

  /**
   * `GET /v2/sessions/:id/messages`: the session's conversation messages newest first, keyset-paginated
   * (the aggregate's `messages.nextCursor` continues past its oldest).
   */
  async sessionMessages(scope: ReadScope, sessionId: string, limit: number, cursor: string | undefined): Promise<Page<ReturnType<typeof messageJson>>> {
    const before = cursor === undefined ? undefined : messageCursor.decode(cursor)[0];
    return this.snapshot(scope, async (db) => {
      await this.session(scope, sessionId, db);
      const rows = await this.sessions.messages(scope, sessionId, limit + 1, before, db);
      return pageOf(rows, limit, messageJson, (last) => messageCursor.encode([Number(last.global_position)]));
    });
  }

  /**
   * `GET /v2/queries/:id`: by key, UID or name (the most recent when a name repeats), with its place in
   * the execution queue (`execution`, null when it was never submitted there).
   */
  async query(scope: ReadScope, id: string) {
    const q = await this.queries.find(scope, id);
    if (!q) throw new NotFoundError(`query ${id} not found`);
    const [[withCalls], execution] = await Promise.all([
      this.withCalls(this.connection.db, scope, [q], [q.query_key]),
      q.query_id ? this.queryBus.execute(new FindQueryExecutionQuery(scope, q.query_id)) : undefined,
    ]);
    return {
      ...withCalls!,
      execution: execution ?? null,
      limits: { toolCalls: AGGREGATE_LIMITS.toolCallsPerQuery, llmCalls: AGGREGATE_LIMITS.llmCallsPerQuery },
    };
  }

  /**
   * What the completion view of a query reads: the ids its events are filed under in the log (its UID
   * for operation events, its name for chunks, which go to `/stream/<name>`; just `id` for a query not
   * seen yet), whether its chunks are stored already, and which chunks are this run's.
   */
  async completionSource(scope: ReadScope, id: string): Promise<{ ids: string[]; streamed: boolean; accepts: (e: ArkEvent) => boolean }> {
    const q = await this.queries.find(scope, id);
    const ids = [...new Set([id, q?.query_id, q?.query_name].filter((x): x is string => Boolean(x)))];
    const chunks = await this.events.chunkSummaries(scope, ids);
    const uid = q?.query_id ?? null;
    return {
      ids,
      streamed: [...chunks.values()].some((c) => c.chunks > 0),
      // A chunk naming another run's UID (`ark.query`) is that run's, though uploaded under the same name.
      accepts: (e) => e.source !== 'chunk' || uid === null || e.queryId === null || e.queryId === uid,
    };
  }

  /** `GET /v2/tool-calls`: oldest first by the position of their first event. */
  async listToolCalls(scope: ReadScope, filters: ToolCallFilters, limit: number, cursor: string | undefined): Promise<Page<ToolCallJson>> {
    const after = cursor === undefined ? undefined : toolCallCursor.decode(cursor);
    const rows = await this.toolCalls.list(scope, filters, limit, after);
    return pageOf(rows, limit, toolCallJson, (last) => toolCallCursor.encode([Number(last.first_position), last.call_key]));
  }

  /** The queries as JSON with their tool calls and LLM calls (listed for `detailed`, totals for all) and chunk summaries. */
  private async withCalls(db: Kysely<Database>, scope: ReadScope, queries: QueryRow[], detailed: string[]): Promise<QueryWithCallsJson[]> {
    const keys = queries.map((q) => q.query_key);
    const [toolCalls, llmCalls, chunks] = await Promise.all([
      this.toolCalls.perQuery(scope, keys, detailed, AGGREGATE_LIMITS.toolCallsPerQuery, db),
      this.llmCalls.perQuery(scope, keys, detailed, AGGREGATE_LIMITS.llmCallsPerQuery, db),
      this.events.chunkSummaries(scope, queryNames(queries), db),
    ]);
    return queries.map((q) => queryWithCallsJson(q, { toolCalls, llmCalls, chunks }));
  }

  /** Runs `work` on one consistent snapshot of the read models, in the scope's tenant. */
  private snapshot<T>(scope: ReadScope, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    return inScope(scope, () =>
      this.connection.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute((trx) => work(trx)),
    );
  }
}
