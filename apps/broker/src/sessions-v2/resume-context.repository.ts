import { Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, GenerateSql, inScope, type Database, type ReadScope } from '#ark/database';
import { decodeChunkRun, NEVER_EXPIRES, type EncodedChunkRun } from '#ark/event-store';
import type { SessionMessageRow } from './session-summary.repository.js';

/** The newest event of a query in the log: where it stopped. */
export interface LastQueryEventRow {
  type: string;
  session_id: string;
  sequence: string;
  time: Date;
}

export interface A2aTaskRow {
  task_id: string;
  server: string | null;
  state: string | null;
  time: Date;
}

export interface McpTaskRow {
  tool_id: string | null;
  mcp_task_id: string;
}

/** The correlation columns of a folded run, which only its chunks are read of here. */
const NO_HEADER = { namespace: null, userId: null, traceId: null, spanId: null, parentSpanId: null };

/** A query's events filed under any of its ids, its chunks also by the upload path's query (as the completion view reads them). */
const ofQuery = (ids: readonly string[]) => sql`(query_id = ANY(${[...ids]}::text[]) OR (source = 'chunk' AND query_name = ANY(${[...ids]}::text[])))`;

/**
 * What `GET /v2/queries/:id/resume-context` reads besides the read models the aggregate uses: the
 * query's conversation and its messages, its newest event, its chunks, A2A and MCP task ids. The
 * caller checked that the scope sees the query's session.
 */
@Injectable()
export class ResumeContextRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /** The memory conversation the query continues: as its operation events named it, else as its messages were posted. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 's', 'q'] })
  async conversationOf(scope: ReadScope, sessionId: string, queryName: string, db: Kysely<Database> = this.connection.db): Promise<string | null> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ conversation_id: string }>`
        (SELECT conversation_id FROM session_queries
         WHERE tenant_id = ${scope.tenantId} AND session_id = ${sessionId} AND query_name = ${queryName} AND conversation_id IS NOT NULL)
        UNION ALL
        (SELECT conversation_id FROM messages
         WHERE tenant_id = ${scope.tenantId} AND query_id = ${queryName} AND (expires_at IS NULL OR expires_at > now())
         ORDER BY global_position DESC LIMIT 1)
        LIMIT 1`.execute(db);
      return rows[0]?.conversation_id ?? null;
    });
  }

  /** The newest `limit` unexpired messages of a conversation (or, without one, of the session), newest first. */
  @GenerateSql({ name: 'conversation', params: [EXAMPLE_ADMIN, 'c', 's', 101] }, { name: 'session', params: [EXAMPLE_ADMIN, null, 's', 101] })
  async messages(
    scope: ReadScope,
    conversationId: string | null,
    sessionId: string,
    limit: number,
    db: Kysely<Database> = this.connection.db,
  ): Promise<SessionMessageRow[]> {
    return inScope(scope, async () => {
      const of = conversationId === null ? sql`session_id = ${sessionId}` : sql`conversation_id = ${conversationId}`;
      const { rows } = await sql<SessionMessageRow>`
        SELECT global_position, conversation_id, query_id, message, recorded_at FROM messages
        WHERE tenant_id = ${scope.tenantId} AND ${of} AND (expires_at IS NULL OR expires_at > now())
        ORDER BY global_position DESC LIMIT ${limit}`.execute(db);
      return rows;
    });
  }

  /** The query's newest visible event, in feed order. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, ['q-uid', 'q-name']] })
  async lastEvent(scope: ReadScope, ids: readonly string[], db: Kysely<Database> = this.connection.db): Promise<LastQueryEventRow | undefined> {
    return inScope(scope, async () => {
      const { rows } = await sql<LastQueryEventRow>`
        SELECT type, session_id, sequence, time FROM events
        WHERE tenant_id = ${scope.tenantId} AND ${ofQuery(ids)} AND expires_at > now()
        ORDER BY transaction_id DESC, global_position DESC LIMIT 1`.execute(db);
      return rows[0];
    });
  }

  /**
   * The chunks of the query's newest `limit` `llm.chunk` events, oldest first, of one run: the
   * `ark.query` they name (Ark's query UID), or any when the query has none. Chunks folded by
   * compaction come from their `llm_completions` rows (the newest `limit` rows at most).
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'q-name', 'q-uid', 500] })
  async recentChunks(scope: ReadScope, queryName: string, run: string | null, limit: number, db: Kysely<Database> = this.connection.db): Promise<unknown[]> {
    return inScope(scope, async () => {
      const ofRun = run === null ? sql`` : sql`AND (query_id IS NULL OR query_id = ${run})`;
      const foldedOfRun = run === null ? sql`` : sql`AND run IN ('', ${run})`;
      const [raw, folded] = await Promise.all([
        sql<{ global_position: number; chunk: unknown }>`
          SELECT global_position, data->'chunk' AS chunk FROM events e
          WHERE tenant_id = ${scope.tenantId} AND query_name = ${queryName} AND source = 'chunk' AND type = 'llm.chunk' ${ofRun}
            AND expires_at > now()
            AND NOT EXISTS (SELECT 1 FROM llm_completions l
                            WHERE l.tenant_id = e.tenant_id AND l.query_name = e.query_name AND l.run = coalesce(e.query_id, '')
                              AND e.global_position BETWEEN l.first_position AND l.last_position)
          ORDER BY global_position DESC LIMIT ${limit}`.execute(db),
        sql<{ session_id: string; run: string; chunks: EncodedChunkRun }>`
          SELECT session_id, run, chunks FROM llm_completions
          WHERE tenant_id = ${scope.tenantId} AND query_name = ${queryName} ${foldedOfRun} AND expires_at > now()
          ORDER BY first_position DESC LIMIT ${limit}`.execute(db),
      ]);
      const unfolded = folded.rows.flatMap((r) =>
        decodeChunkRun({ ...NO_HEADER, tenantId: scope.tenantId, sessionId: r.session_id, queryName, run: r.run || null }, r.chunks, NEVER_EXPIRES).map(
          (e) => ({ global_position: e.globalPosition, chunk: (e.data as { chunk: unknown }).chunk }),
        ),
      );
      return [...raw.rows, ...unfolded]
        .sort((a, b) => a.global_position - b.global_position)
        .slice(-limit)
        .map((r) => r.chunk);
    });
  }

  /** The A2A tasks the query delegated to, each in its newest state. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, ['q-uid']] })
  async a2aTasks(scope: ReadScope, ids: readonly string[], db: Kysely<Database> = this.connection.db): Promise<A2aTaskRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<A2aTaskRow>`
        SELECT DISTINCT ON (data->>'taskId') data->>'taskId' AS task_id, data->>'server' AS server, data->>'state' AS state, time FROM events
        WHERE tenant_id = ${scope.tenantId} AND query_id = ANY(${[...ids]}::text[]) AND type = 'a2a.task.updated'
          AND data->>'taskId' IS NOT NULL AND expires_at > now()
        ORDER BY data->>'taskId', transaction_id DESC, global_position DESC`.execute(db);
      return rows;
    });
  }

  /** MCP task ids that the session's tool call events carried (`mcp.task.id`), by tool call id. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 's'] })
  async mcpTasks(scope: ReadScope, sessionId: string, db: Kysely<Database> = this.connection.db): Promise<McpTaskRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<McpTaskRow>`
        SELECT DISTINCT data->>'toolId' AS tool_id, data->>'mcpTaskId' AS mcp_task_id FROM events
        WHERE tenant_id = ${scope.tenantId} AND session_id = ${sessionId} AND type LIKE 'tool.call.%' AND data ? 'mcpTaskId'
          AND expires_at > now()`.execute(db);
      return rows;
    });
  }
}
