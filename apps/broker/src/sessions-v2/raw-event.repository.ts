import { Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, GenerateSql, inScope, PREPARED, type Database, type ReadScope } from '#ark/database';

export interface ChunkSummaryRow {
  query: string;
  chunks: number;
  first_at: Date | null;
  last_at: Date | null;
  completed: boolean;
}

export interface PendingApprovalRow {
  query_id: string | null;
  task_id: string | null;
  tool_calls: unknown;
  time: Date;
  sequence: string;
  session_id: string;
  /** All pending approvals of the session, before the limit. */
  total: string;
}

/** An `a2a.task.*` event of a session, as the aggregate folds it into tasks. */
export interface A2aTaskEventRow {
  type: string;
  time: Date;
  query_id: string | null;
  query_name: string | null;
  data: unknown;
}

/**
 * Reads of the `events` table itself, for what no read model holds: LLM chunk summaries, pending
 * approvals and A2A tasks. The caller checked that the scope sees the session.
 */
@Injectable()
export class RawEventRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /**
   * Chunk count, first/last chunk time and completion of the streams uploaded under these queries
   * (the upload path names the query: `query_name`), per run: by the `ark.query` a chunk names
   * (`query_id`: Ark's chunks name the query UID, so two runs of one name stay apart), else by the path.
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, ['q']] })
  async chunkSummaries(scope: ReadScope, queries: readonly string[], db: Kysely<Database> = this.connection.db): Promise<Map<string, ChunkSummaryRow>> {
    return inScope(scope, async () => {
      if (queries.length === 0) return new Map<string, ChunkSummaryRow>();
      // Compacted runs count from their llm_completions rows; the raw chunks they cover are left out.
      const { rows } = await sql<ChunkSummaryRow>`${PREPARED}
        SELECT query, sum(chunks)::int AS chunks, min(first_at) AS first_at, max(last_at) AS last_at, bool_or(completed) AS completed FROM (
          SELECT coalesce(query_id, query_name) AS query, count(*) FILTER (WHERE type = 'llm.chunk') AS chunks,
                 min(time) FILTER (WHERE type = 'llm.chunk') AS first_at, max(time) FILTER (WHERE type = 'llm.chunk') AS last_at,
                 bool_or(type = 'llm.stream.completed') AS completed
          FROM events e WHERE tenant_id = ${scope.tenantId} AND query_name = ANY(${queries}::text[]) AND source = 'chunk' AND expires_at > now()
            AND NOT (type = 'llm.chunk' AND EXISTS (
              SELECT 1 FROM llm_completions l
              WHERE l.tenant_id = e.tenant_id AND l.query_name = e.query_name AND l.run = coalesce(e.query_id, '')
                AND e.global_position BETWEEN l.first_position AND l.last_position))
          GROUP BY coalesce(query_id, query_name)
          UNION ALL
          SELECT coalesce(nullif(run, ''), query_name), chunk_count, first_at, last_at, false
          FROM llm_completions WHERE tenant_id = ${scope.tenantId} AND query_name = ANY(${queries}::text[]) AND expires_at > now()
        ) runs GROUP BY query`.execute(db);
      return new Map(rows.map((r) => [r.query, r]));
    });
  }

  /**
   * The first `limit` `approval.requested` chunks of the session (or of its queries, by any of their
   * names) with no `approval.resolved` for their task, in log order.
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 's', ['q'], 10] })
  async pendingApprovals(
    scope: ReadScope,
    sessionId: string,
    queries: readonly string[],
    limit: number,
    db: Kysely<Database> = this.connection.db,
  ): Promise<PendingApprovalRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<PendingApprovalRow>`${PREPARED}
        WITH approvals AS (
          -- Approvals are chunks: their query is the upload path's (query_name).
          SELECT type, query_name AS query_id, data->>'taskId' AS task_id, data->'toolCalls' AS tool_calls, time, sequence, session_id, global_position
          FROM events
          WHERE tenant_id = ${scope.tenantId} AND type IN ('approval.requested', 'approval.resolved') AND expires_at > now()
            AND (session_id = ${sessionId} OR query_name = ANY(${queries}::text[]))
        ), pending AS (
          SELECT r.* FROM approvals r
          WHERE r.type = 'approval.requested' AND NOT EXISTS (
            SELECT 1 FROM approvals x WHERE x.type = 'approval.resolved' AND x.query_id IS NOT DISTINCT FROM r.query_id
              AND (x.task_id = r.task_id OR (r.task_id IS NULL AND x.global_position > r.global_position)))
        )
        SELECT query_id, task_id, tool_calls, time, sequence, session_id, count(*) OVER () AS total
        FROM pending ORDER BY global_position LIMIT ${limit}`.execute(db);
      return rows;
    });
  }

  /** The newest `limit` `a2a.task.*` events of the session, oldest first (A2A tasks: docs/events.md). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 's', 10] })
  async a2aTaskEvents(scope: ReadScope, sessionId: string, limit: number, db: Kysely<Database> = this.connection.db): Promise<A2aTaskEventRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<A2aTaskEventRow>`${PREPARED}
        SELECT type, time, query_id, query_name, data FROM (
          SELECT type, time, query_id, query_name, data, global_position FROM events
          WHERE tenant_id = ${scope.tenantId} AND session_id = ${sessionId} AND type LIKE 'a2a.task.%' AND expires_at > now()
          ORDER BY global_position DESC LIMIT ${limit}
        ) newest ORDER BY global_position`.execute(db);
      return rows;
    });
  }
}
