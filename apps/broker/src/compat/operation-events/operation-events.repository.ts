import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { BrokerConfig } from '#ark/config';
import { DatabaseConnection, EXAMPLE_ADMIN, EXAMPLE_READER, GenerateSql, inScope, sessionVisible, type ReadScope } from '#ark/database';
import { JsonText, ROW_BYTES, withinByteBudget } from '#ark/event-store';

export interface StoredOperationEvent {
  position: number;
  /** The event as the producer sent it, as stored JSON text (passed on, never parsed). */
  body: JsonText;
}

/**
 * Operation events are read straight from the log (`source = 'operation-event'`), in log order,
 * minus what a `records.deleted` tombstone covers (see the `deletions` table). A page also stops at
 * READ_PAGE_MAX_BYTES, as the /v2 log pages do (at least one event; `cut`, and the cursor continues).
 */
@Injectable()
export class OperationEventsRepository {
  constructor(
    private readonly connection: DatabaseConnection,
    private readonly config: BrokerConfig,
  ) {}

  @GenerateSql(
    { name: 'admin', params: [EXAMPLE_ADMIN, { limit: 100 }] },
    { name: 'reader, one session and query, after a position', params: [EXAMPLE_READER, { sessionId: 's', queryId: 'q', after: 1, limit: 100 }] },
  )
  async list(
    scope: ReadScope,
    filter: { sessionId?: string; queryId?: string; after?: number; limit: number },
  ): Promise<{ items: StoredOperationEvent[]; hasMore: boolean; cut: boolean }> {
    const session = filter.sessionId === undefined ? sql`` : sql`AND session_id = ${filter.sessionId}`;
    const query = filter.queryId === undefined ? sql`` : sql`AND query_id = ${filter.queryId}`;
    const maxBytes = this.config.READ_PAGE_MAX_BYTES;
    const { rows } = await inScope(scope, () =>
      sql<{ global_position: number; body: string; row_bytes: string; page_bytes: string }>`
      -- The body is rendered as text only for the rows the budget keeps.
      SELECT page.global_position, (page.data->'operationEvent')::text AS body, page.row_bytes, page.page_bytes FROM (
        SELECT e.*, sum(e.row_bytes) OVER (ORDER BY e.global_position ROWS UNBOUNDED PRECEDING) AS page_bytes
        FROM (
          SELECT global_position, data, ${ROW_BYTES} FROM events
          WHERE tenant_id = ${scope.tenantId} AND source = 'operation-event' AND expires_at > now() ${session} ${query} AND ${sessionVisible(scope, 'events')}
            AND global_position > ${filter.after ?? 0}
            AND NOT EXISTS (
              SELECT 1 FROM deletions d
              WHERE d.tenant_id = events.tenant_id AND d.scope = 'operation-events'
                AND (d.query_id IS NULL OR d.query_id = events.query_id) AND d.up_to_position > events.global_position)
          ORDER BY global_position
          LIMIT ${filter.limit + 1}
        ) e
      ) page
      WHERE page.page_bytes - page.row_bytes < ${maxBytes}`.execute(this.connection.db),
    );
    const { rows: kept, cut } = withinByteBudget(rows, filter.limit + 1, maxBytes);
    return {
      items: kept.slice(0, filter.limit).map((r) => ({ position: r.global_position, body: new JsonText(r.body) })),
      hasMore: kept.length > filter.limit || cut,
      cut,
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
