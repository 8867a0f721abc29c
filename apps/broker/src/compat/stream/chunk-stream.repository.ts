import { Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, EXAMPLE_READER, GenerateSql, inScope, sessionVisible, type Database, type ReadScope } from '#ark/database';

/** A stored chunk event as the upstream chunk views need it. */
export interface StoredChunk {
  globalPosition: number;
  recordedAt: Date;
  queryId: string;
  type: string;
  data: unknown;
}

/** What `POST /stream/:query/complete` decides on. */
export interface QueryChunkStream {
  /** Session of the query's first visible chunk: where its completion goes (one place, so the dedupe key holds). */
  sessionId: string;
  /** The newest run under the path's query: the `ark.query` (Ark's query UID) its chunks name, if any. */
  run: string | null;
  chunkCount: number;
  completed: boolean;
  /** The tenant's purge watermark the counts were read under. */
  purgedThrough: number;
}

/** The tenant's purge watermark (0: never purged) as a scalar subquery. */
const purgedThrough = (tenantId: string) =>
  sql<number>`coalesce((SELECT max(up_to_position) FROM deletions WHERE tenant_id = ${tenantId} AND scope = 'stream' AND query_id IS NULL), 0)`;

/**
 * SQL of the upstream chunk routes. Chunk events are the log's `source = 'chunk'` events
 * (`llm.chunk`, `approval.*`, `llm.stream.completed`); the views only see those above the tenant's
 * purge watermark: the position of its latest `stream` tombstone (DeletionsProjector).
 */
@Injectable()
export class ChunkStreamRepository {
  private readonly db: Kysely<Database>;

  constructor(connection: DatabaseConnection) {
    this.db = connection.db;
  }

  /**
   * The index the query's next chunk gets: one past that of its newest stored chunk. The order is
   * exactly that of `events_chunk_query_name`, read backwards, so it costs the same for the first and
   * the ten-thousandth chunk; an ORDER BY no index gives let the planner, without statistics, scan
   * every chunk of the tenant instead (55 ms at 40,000 chunks). Position order is upload order here:
   * a query's uploads in this process share one counter and commit one batch at a time.
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'q'] })
  async nextChunkIndex(scope: ReadScope, queryId: string): Promise<number> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ index: number }>`
        SELECT (data->>'index')::int AS index FROM events
        WHERE tenant_id = ${scope.tenantId} AND query_name = ${queryId} AND source = 'chunk' AND data ? 'index'
        ORDER BY global_position DESC
        LIMIT 1`.execute(this.db);
      return rows.length === 0 ? 0 : rows[0]!.index + 1;
    });
  }

  /** The query's visible chunk stream; undefined when it has no chunk event. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'q'] })
  async queryStream(scope: ReadScope, queryId: string): Promise<QueryChunkStream | undefined> {
    return inScope(scope, async () => {
      // `visible` is read twice, so PostgreSQL materialises it: it carries no payloads.
      const { rows } = await sql<{ session_id: string; query_id: string | null; chunk_count: number; completed: boolean; purged_through: number }>`
        WITH watermark AS (SELECT ${purgedThrough(scope.tenantId)} AS purged_through),
        visible AS (
          SELECT e.session_id, e.query_id, e.type, e.transaction_id, e.global_position FROM events e, watermark
          WHERE e.tenant_id = ${scope.tenantId} AND e.query_name = ${queryId} AND e.source = 'chunk'
            AND e.global_position > watermark.purged_through AND e.expires_at > now())
        -- The newest run under this name (the ark.query its chunks name, Ark's query UID): a name
        -- reused by a new query streams a new run, which completes on its own.
        , run AS (SELECT query_id FROM visible WHERE type <> 'llm.stream.completed' ORDER BY transaction_id DESC, global_position DESC LIMIT 1)
        SELECT first.session_id, run.query_id, counts.chunk_count, counts.completed, watermark.purged_through
        FROM watermark, run,
          (SELECT count(*) FILTER (WHERE type <> 'llm.stream.completed')::int AS chunk_count,
                  coalesce(bool_or(type = 'llm.stream.completed'), false) AS completed
           FROM visible, run WHERE visible.query_id IS NOT DISTINCT FROM run.query_id) counts,
          (SELECT session_id FROM visible, run WHERE visible.query_id IS NOT DISTINCT FROM run.query_id
           ORDER BY transaction_id, global_position LIMIT 1) first`.execute(this.db);
      const row = rows[0];
      return (
        row && {
          sessionId: row.session_id,
          run: row.query_id,
          chunkCount: row.chunk_count,
          completed: row.completed,
          purgedThrough: row.purged_through,
        }
      );
    });
  }

  @GenerateSql({ params: [EXAMPLE_ADMIN] })
  async purgedThrough(scope: ReadScope): Promise<number> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ purged_through: number }>`SELECT ${purgedThrough(scope.tenantId)} AS purged_through`.execute(this.db);
      return rows[0]!.purged_through;
    });
  }

  /**
   * A page of visible chunk events after a global position, ascending, and how many are visible in
   * all. Every committed chunk is listed at once (read-your-writes). Positions are taken before
   * commit, so a concurrent append with lower positions can commit after a client paged past them;
   * gap-free readers use the watch (it reads the feed in commit order).
   */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN, 0, 100] }, { name: 'reader', params: [EXAMPLE_READER, 0, 100] })
  async page(scope: ReadScope, after: number, limit: number): Promise<{ chunks: StoredChunk[]; total: number }> {
    return inScope(scope, async () => {
      const tenantId = scope.tenantId;
      const [page, count] = await Promise.all([
        sql<{ global_position: number; recorded_at: Date; query_name: string; type: string; data: unknown }>`
          SELECT global_position, recorded_at, query_name, type, data FROM events
          WHERE tenant_id = ${tenantId} AND source = 'chunk' AND ${sessionVisible(scope, 'events')} AND expires_at > now()
            AND global_position > greatest(${after}::bigint, ${purgedThrough(tenantId)})
          ORDER BY global_position
          LIMIT ${limit}`.execute(this.db),
        sql<{ total: number }>`
          SELECT count(*)::int AS total FROM events
          WHERE tenant_id = ${tenantId} AND source = 'chunk' AND ${sessionVisible(scope, 'events')} AND expires_at > now()
            AND global_position > ${purgedThrough(tenantId)}`.execute(this.db),
      ]);
      return {
        chunks: page.rows.map((r) => ({ globalPosition: r.global_position, recordedAt: r.recorded_at, queryId: r.query_name, type: r.type, data: r.data })),
        total: count.rows[0]!.total,
      };
    });
  }
}
