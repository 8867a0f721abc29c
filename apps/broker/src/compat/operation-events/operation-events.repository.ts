import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DatabaseConnection } from '#ark/database';

export interface StoredOperationEvent {
  position: number;
  body: unknown;
}

/** Operation events are read straight from the log (`source = 'operation-event'`), in log order. */
@Injectable()
export class OperationEventsRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  async list(
    tenantId: string,
    filter: { sessionId?: string; queryId?: string; after?: number; limit: number },
  ): Promise<{ items: StoredOperationEvent[]; hasMore: boolean }> {
    const session = filter.sessionId === undefined ? sql`` : sql`AND session_id = ${filter.sessionId}`;
    const query = filter.queryId === undefined ? sql`` : sql`AND query_id = ${filter.queryId}`;
    const { rows } = await sql<{ global_position: number; body: unknown }>`
      SELECT global_position, data->'operationEvent' AS body FROM events
      WHERE tenant_id = ${tenantId} AND source = 'operation-event' ${session} ${query}
        AND global_position > ${filter.after ?? 0}
      ORDER BY global_position
      LIMIT ${filter.limit + 1}`.execute(this.connection.db);
    return {
      items: rows.slice(0, filter.limit).map((r) => ({ position: r.global_position, body: r.body })),
      hasMore: rows.length > filter.limit,
    };
  }
}
