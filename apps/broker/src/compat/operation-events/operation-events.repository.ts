import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, EXAMPLE_READER, GenerateSql, inScope, sessionVisible, type ReadScope } from '#ark/database';

export interface StoredOperationEvent {
  position: number;
  body: unknown;
}

/**
 * Operation events are read straight from the log (`source = 'operation-event'`), in log order,
 * minus what a `records.deleted` tombstone covers (see the `deletions` table).
 */
@Injectable()
export class OperationEventsRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  @GenerateSql(
    { name: 'admin', params: [EXAMPLE_ADMIN, { limit: 100 }] },
    { name: 'reader, one session and query, after a position', params: [EXAMPLE_READER, { sessionId: 's', queryId: 'q', after: 1, limit: 100 }] },
  )
  async list(
    scope: ReadScope,
    filter: { sessionId?: string; queryId?: string; after?: number; limit: number },
  ): Promise<{ items: StoredOperationEvent[]; hasMore: boolean }> {
    const session = filter.sessionId === undefined ? sql`` : sql`AND session_id = ${filter.sessionId}`;
    const query = filter.queryId === undefined ? sql`` : sql`AND query_id = ${filter.queryId}`;
    const { rows } = await inScope(scope, () =>
      sql<{ global_position: number; body: unknown }>`
      SELECT global_position, data->'operationEvent' AS body FROM events
      WHERE tenant_id = ${scope.tenantId} AND source = 'operation-event' AND expires_at > now() ${session} ${query} AND ${sessionVisible(scope, 'events')}
        AND global_position > ${filter.after ?? 0}
        AND NOT EXISTS (
          SELECT 1 FROM deletions d
          WHERE d.tenant_id = events.tenant_id AND d.scope = 'operation-events'
            AND (d.query_id IS NULL OR d.query_id = events.query_id) AND d.up_to_position > events.global_position)
      ORDER BY global_position
      LIMIT ${filter.limit + 1}`.execute(this.connection.db),
    );
    return {
      items: rows.slice(0, filter.limit).map((r) => ({ position: r.global_position, body: r.body })),
      hasMore: rows.length > filter.limit,
    };
  }

  /** Position below which a query's operation events are deleted (0: none are). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'q'] })
  async deletedBefore(scope: ReadScope, queryId: string): Promise<number> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ up_to: number | null }>`
        SELECT max(up_to_position) AS up_to FROM deletions
        WHERE tenant_id = ${scope.tenantId} AND scope = 'operation-events' AND (query_id IS NULL OR query_id = ${queryId})`.execute(this.connection.db);
      return rows[0]?.up_to ?? 0;
    });
  }
}
