import { Injectable } from '@nestjs/common';
import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import {
  DatabaseConnection,
  EXAMPLE_ADMIN,
  EXAMPLE_READER,
  GenerateSql,
  inScope,
  sessionLive,
  type Database,
  type ToolCallsTable,
  type ReadScope,
} from '#ark/database';
import { callsPerQuery, type CappedList } from './calls-per-query.js';

export type ToolCallRow = Selectable<ToolCallsTable> & { session_id?: string | null };

export interface ToolCallFilters {
  sessionId?: string;
  queryId?: string;
  mcpSessionId?: string;
  toolName?: string;
}

/** The `tool_calls` read model. */
@Injectable()
export class ToolCallRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /**
   * Up to `limit + 1` tool calls the scope sees, oldest first by the position of their first event,
   * past the `after` sort key, each with its query's session.
   */
  @GenerateSql(
    { name: 'admin, first page', params: [EXAMPLE_ADMIN, {}, 20, undefined] },
    {
      name: 'reader, every filter, after a cursor',
      params: [EXAMPLE_READER, { sessionId: 's', queryId: 'q', mcpSessionId: 'm', toolName: 'tool' }, 20, [1, 'c']],
    },
  )
  async list(
    scope: ReadScope,
    filters: ToolCallFilters,
    limit: number,
    after: readonly [number, string] | undefined,
    db: Kysely<Database> = this.connection.db,
  ): Promise<ToolCallRow[]> {
    return inScope(scope, async () => {
      const t = scope.tenantId;
      const where: RawBuilder<unknown>[] = [sql`c.tenant_id = ${t}`, sessionLive(scope, 'q')];
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
      const { rows } = await sql<ToolCallRow>`
        SELECT c.*, q.session_id FROM tool_calls c
        LEFT JOIN queries q ON q.tenant_id = c.tenant_id AND q.query_key = c.query_key
        WHERE ${sql.join(where, sql` AND `)}
        ORDER BY c.first_position, c.call_key LIMIT ${limit + 1}`.execute(db);
      return rows;
    });
  }

  /** Per query key: the total of its tool calls, and the first `cap` of the `detailed` ones (calls-per-query.ts). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, ['k1', 'k2'], ['k1'], 10] })
  perQuery(
    scope: ReadScope,
    keys: readonly string[],
    detailed: readonly string[],
    cap: number,
    db: Kysely<Database> = this.connection.db,
  ): Promise<Map<string, CappedList<ToolCallRow>>> {
    return inScope(scope, () => {
      return callsPerQuery<ToolCallRow>(db, sql.raw('tool_calls'), scope.tenantId, keys, detailed, cap);
    });
  }
}
