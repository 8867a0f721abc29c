import { Injectable } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import type { ReadScope } from '#ark/database';
import { InvalidCursorError } from '#ark/errors';
import { executionJson, executorJson, historyEntryJson, type ExecutorJson } from './execution-json.js';
import { ExecutionRepository, type ListFilters } from './execution.repository.js';
import { FindQueryExecutionQuery, type QueryExecutionDetailJson } from './find-query-execution.query.js';

/** An executor is listed while it was seen this recently (a claim or heartbeat), or holds queries. */
export const EXECUTOR_LIVE_SECONDS = 60;
/** Transitions shown with a query; its whole history is in its session's events. */
const HISTORY_LIMIT = 200;

/** The queue as its readers see it: pages, one query with its history, the executors. */
@Injectable()
export class ExecutionReadsService {
  constructor(private readonly repository: ExecutionRepository) {}

  async list(scope: ReadScope, filters: ListFilters, limit: number, cursor: string | undefined) {
    const rows = await this.repository.list(scope, filters, limit + 1, cursor === undefined ? undefined : decodeCursor(cursor));
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const hasMore = rows.length > limit;
    return {
      items: page.map(executionJson),
      hasMore,
      nextCursor: hasMore && last ? Buffer.from(JSON.stringify([Number(last.submitted_us), last.query_id])).toString('base64url') : null,
    };
  }

  async find(scope: ReadScope, queryId: string): Promise<QueryExecutionDetailJson | undefined> {
    const row = await this.repository.find(scope, queryId);
    if (!row) return undefined;
    const history = await this.repository.history(scope, queryId, HISTORY_LIMIT);
    return { ...executionJson(row), history: history.map(historyEntryJson) };
  }

  async executors(scope: ReadScope): Promise<{ items: ExecutorJson[] }> {
    return { items: (await this.repository.executors(scope, EXECUTOR_LIVE_SECONDS)).map(executorJson) };
  }
}

function decodeCursor(text: string): [number, string] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || value.length !== 2 || !Number.isSafeInteger(value[0]) || typeof value[1] !== 'string') {
    throw new InvalidCursorError('bad cursor: pass the nextCursor of a previous page');
  }
  return value as [number, string];
}

@QueryHandler(FindQueryExecutionQuery)
export class FindQueryExecutionHandler implements IQueryHandler<FindQueryExecutionQuery, QueryExecutionDetailJson | undefined> {
  constructor(private readonly reads: ExecutionReadsService) {}

  execute({ scope, queryId }: FindQueryExecutionQuery): Promise<QueryExecutionDetailJson | undefined> {
    return this.reads.find(scope, queryId);
  }
}
