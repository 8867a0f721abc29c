import { Query } from '@nestjs/cqrs';
import type { ReadScope } from '#ark/database';
import type { HistoryEntryJson, QueryExecutionJson } from './execution-json.js';

export type QueryExecutionDetailJson = QueryExecutionJson & { history: HistoryEntryJson[] };

/** The execution of a query with its history, for other modules (`GET /v2/queries/:id` shows it beside the read model). */
export class FindQueryExecutionQuery extends Query<QueryExecutionDetailJson | undefined> {
  constructor(
    readonly scope: ReadScope,
    readonly queryId: string,
  ) {
    super();
  }
}
