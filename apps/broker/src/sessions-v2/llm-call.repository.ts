import { Injectable } from '@nestjs/common';
import { sql, type Kysely, type Selectable } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, GenerateSql, inScope, type Database, type LlmCallsTable, type ReadScope } from '#ark/database';
import { callsPerQuery, type CappedList } from './calls-per-query.js';

export type LlmCallRow = Selectable<LlmCallsTable>;

/** The `llm_calls` read model. */
@Injectable()
export class LlmCallRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /** Per query key: the total of its LLM calls, and the first `cap` of the `detailed` ones (calls-per-query.ts). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, ['k1', 'k2'], ['k1'], 10] })
  perQuery(
    scope: ReadScope,
    keys: readonly string[],
    detailed: readonly string[],
    cap: number,
    db: Kysely<Database> = this.connection.db,
  ): Promise<Map<string, CappedList<LlmCallRow>>> {
    return inScope(scope, () => {
      return callsPerQuery<LlmCallRow>(db, sql.raw('llm_calls'), scope.tenantId, keys, detailed, cap);
    });
  }
}
