import { Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { DatabaseConnection, inScope, type Database, type ReadScope } from '#ark/database';
import { NotFoundError } from '#ark/errors';
import { lastCompletion } from './completion-text.js';
import { LlmCallRepository } from './llm-call.repository.js';
import { QueryRepository } from './query.repository.js';
import { RawEventRepository } from './raw-event.repository.js';
import { ResumeContextRepository } from './resume-context.repository.js';
import { llmCallJson, messageJson, pendingApprovalsJson, queryJson, toolCallJson } from './sessions-v2.presenter.js';
import { ToolCallRepository } from './tool-call.repository.js';

/** Caps of the resume context: the newest messages, the first tool and LLM calls, the newest chunks read for the last completion. */
export const RESUME_LIMITS = { messages: 200, toolCalls: 500, llmCalls: 200, pendingApprovals: 50, chunks: 2_000 } as const;

const FINISHED_PHASES = new Set(['done', 'error', 'canceled']);

/** Why a query is not going on, read from its state: finished, or what it was waiting on when its producers stopped. */
export type StopReason = 'done' | 'error' | 'canceled' | 'awaiting_approval' | 'tool_call' | 'llm_call' | 'running';

/**
 * `GET /v2/queries/:id/resume-context` (seed 001, "replay or resume"): everything an executor needs to
 * resume or replay a query, read on one snapshot: the query (input, target), its conversation's
 * messages, its tool calls with parameters and results, the MCP session and task ids and A2A tasks
 * seen, pending approvals, the last LLM completion assembled from its chunks, and where it stopped.
 */
@Injectable()
export class ResumeContextService {
  constructor(
    private readonly connection: DatabaseConnection,
    private readonly queries: QueryRepository,
    private readonly toolCalls: ToolCallRepository,
    private readonly llmCalls: LlmCallRepository,
    private readonly events: RawEventRepository,
    private readonly context: ResumeContextRepository,
  ) {}

  async resumeContext(scope: ReadScope, id: string) {
    return inScope(scope, () =>
      this.connection.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute((db) => this.read(scope, id, db)),
    );
  }

  private async read(scope: ReadScope, id: string, db: Kysely<Database>) {
    const q = await this.queries.find(scope, id, db);
    if (!q) throw new NotFoundError(`query ${id} not found`);
    const ids = [...new Set([q.query_key, q.query_id, q.query_name].filter((x): x is string => x !== null))];
    const name = q.query_name ?? q.query_id ?? q.query_key;
    const conversationId = await this.context.conversationOf(scope, q.session_id, name, db);
    const [messages, toolRows, llmRows, approvals, lastEvent, chunks, a2aTasks, mcpTasks] = await Promise.all([
      this.context.messages(scope, conversationId, q.session_id, RESUME_LIMITS.messages + 1, db),
      this.toolCalls.list(scope, { queryId: q.query_key }, RESUME_LIMITS.toolCalls, undefined, db),
      this.llmCalls.perQuery(scope, [q.query_key], [q.query_key], RESUME_LIMITS.llmCalls, db),
      this.events.pendingApprovals(scope, q.session_id, ids, RESUME_LIMITS.pendingApprovals, db),
      this.context.lastEvent(scope, ids, db),
      this.context.recentChunks(scope, name, q.query_id, RESUME_LIMITS.chunks, db),
      this.context.a2aTasks(scope, ids, db),
      this.context.mcpTasks(scope, q.session_id, db),
    ]);
    const taskOf = new Map(mcpTasks.map((t) => [t.tool_id, t.mcp_task_id]));
    const tools = toolRows.slice(0, RESUME_LIMITS.toolCalls).map((t) => ({ ...toolCallJson(t), mcpTaskId: taskOf.get(t.tool_id) ?? null }));
    const llm = llmRows.get(q.query_key);
    const pending = pendingApprovalsJson(approvals);
    const openToolCalls = tools.filter((t) => t.status === 'started');
    const openLlmCalls = (llm?.items ?? []).filter((l) => l.status === 'started');
    const finished = FINISHED_PHASES.has(q.phase);
    const reason: StopReason = finished
      ? (q.phase as StopReason)
      : pending.total > 0
        ? 'awaiting_approval'
        : openToolCalls.length > 0
          ? 'tool_call'
          : openLlmCalls.length > 0
            ? 'llm_call'
            : 'running';
    return {
      query: queryJson(q),
      conversation: {
        conversationId,
        messages: {
          items: messages.slice(0, RESUME_LIMITS.messages).reverse().map(messageJson),
          truncated: messages.length > RESUME_LIMITS.messages,
        },
      },
      toolCalls: { items: tools, truncated: toolRows.length > RESUME_LIMITS.toolCalls },
      llmCalls: { items: (llm?.items ?? []).map(llmCallJson), total: llm?.total ?? 0, truncated: llm?.truncated ?? false },
      mcp: {
        sessionIds: [...new Set(tools.map((t) => t.mcpSessionId).filter((x): x is string => x !== null))],
        taskIds: [...new Set(tools.map((t) => t.mcpTaskId).filter((x): x is string => x !== null))],
      },
      a2aTasks: a2aTasks.map((t) => ({ taskId: t.task_id, server: t.server, state: t.state, updatedAt: t.time.toISOString() })),
      pendingApprovals: pending,
      lastCompletion: lastCompletion(chunks),
      stoppedAt: {
        finished,
        reason,
        lastEvent: lastEvent
          ? { type: lastEvent.type, sessionId: lastEvent.session_id, sequence: Number(lastEvent.sequence), time: lastEvent.time.toISOString() }
          : null,
        openToolCalls: openToolCalls.map((t) => ({ id: t.id, toolId: t.toolId, toolName: t.toolName, parameters: t.parameters, startedAt: t.startedAt })),
        openLlmCalls: openLlmCalls.map((l) => ({ id: l.call_key, model: l.model, startedAt: l.started_at?.toISOString() ?? null })),
      },
      limits: RESUME_LIMITS,
    };
  }
}
