import type { Transaction } from 'kysely';
import type { Database } from '#ark/database';
import type { ArkEvent, InlineProjector } from '#ark/event-store';
import { LlmCallsProjector } from './llm-calls.projector.js';
import { QueriesProjector } from './queries.projector.js';
import { resolveQueryKeys, takeQueryLookups } from './query-identity.js';
import { ToolCallsProjector } from './tool-calls.projector.js';

/**
 * The work read models: `tool_calls`, `llm_calls` and `queries`, over the query each event belongs
 * to, resolved once per batch (query-identity.ts). Queries last: they total the calls just written.
 */
export class WorkProjector implements InlineProjector {
  readonly name = 'work';
  private readonly toolCalls = new ToolCallsProjector();
  private readonly llmCalls = new LlmCallsProjector();
  private readonly queries = new QueriesProjector();
  readonly tables = [...this.toolCalls.tables, ...this.llmCalls.tables, ...this.queries.tables];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    const keys = await resolveQueryKeys(trx, events, takeQueryLookups(trx));
    await this.toolCalls.project(trx, events, keys);
    await this.llmCalls.project(trx, events, keys);
    await this.queries.project(trx, events, keys);
  }
}
