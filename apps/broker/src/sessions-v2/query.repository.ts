import { Injectable } from '@nestjs/common';
import { sql, type Kysely, type Selectable } from 'kysely';
import {
  DatabaseConnection,
  EXAMPLE_ADMIN,
  EXAMPLE_READER,
  GenerateSql,
  inScope,
  PREPARED,
  sessionLive,
  type Database,
  type QueriesTable,
  type ReadScope,
} from '#ark/database';

export type QueryRow = Selectable<QueriesTable>;
/** A query of a session's page: its start time in microseconds (the cursor's key) and the session's query total. */
export type SessionQueryRow = QueryRow & { started_us: string; total: string };

/** The `queries` read model. */
@Injectable()
export class QueryRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /**
   * A session's queries newest first (started_at, then key), older than `before`, each with the
   * session's total. The caller checked that the scope sees the session.
   */
  @GenerateSql(
    { name: 'first page', params: [EXAMPLE_ADMIN, 's', 20, undefined] },
    { name: 'older than a query', params: [EXAMPLE_ADMIN, 's', 20, [1735689600000000, 'k']] },
  )
  async ofSession(
    scope: ReadScope,
    sessionId: string,
    limit: number,
    before: readonly [number, string] | undefined,
    db: Kysely<Database> = this.connection.db,
  ): Promise<SessionQueryRow[]> {
    return inScope(scope, async () => {
      const startedUs = sql`(extract(epoch FROM q.started_at) * 1000000)::bigint`;
      const older = before ? sql`AND (${startedUs}, q.query_key) < (${before[0]}::bigint, ${before[1]})` : sql``;
      const { rows } = await sql<SessionQueryRow>`${PREPARED}
        SELECT q.*, ${startedUs} AS started_us, count(*) OVER () AS total FROM queries q
        WHERE q.tenant_id = ${scope.tenantId} AND q.session_id = ${sessionId} ${older}
        ORDER BY q.started_at DESC, q.query_key DESC LIMIT ${limit}`.execute(db);
      return rows;
    });
  }

  /** A query by key, UID or name (the most recent when a name repeats), if the scope sees its session. */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN, 'q'] }, { name: 'reader', params: [EXAMPLE_READER, 'q'] })
  async find(scope: ReadScope, id: string, db: Kysely<Database> = this.connection.db): Promise<QueryRow | undefined> {
    return inScope(scope, async () => {
      const { rows } = await sql<QueryRow>`
        SELECT q.* FROM queries q
        WHERE q.tenant_id = ${scope.tenantId} AND (q.query_key = ${id} OR q.query_id = ${id} OR q.query_name = ${id})
          AND ${sessionLive(scope, 'q')}
        ORDER BY (q.query_key = ${id}) DESC, (q.query_id = ${id}) DESC, q.started_at DESC, q.query_key LIMIT 1`.execute(db);
      return rows[0];
    });
  }
}
