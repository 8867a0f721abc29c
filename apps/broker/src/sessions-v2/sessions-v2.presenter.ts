import type { CappedList } from './calls-per-query.js';
import type { LlmCallRow } from './llm-call.repository.js';
import type { QueryRow } from './query.repository.js';
import type { ChunkSummaryRow, PendingApprovalRow } from './raw-event.repository.js';
import type { SessionMessageRow, SessionSummaryRow } from './session-summary.repository.js';
import type { ToolCallRow } from './tool-call.repository.js';

// Rows → the JSON answers of the native sessions API (docs/read-models.md).

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function sessionJson(r: SessionSummaryRow) {
  return {
    sessionId: r.session_id,
    userId: r.user_id,
    status: r.status,
    firstActivityAt: r.first_activity_at.toISOString(),
    lastActivityAt: r.last_activity_at.toISOString(),
    eventCount: Number(r.event_count),
    lastSequence: Number(r.last_sequence),
    queryCount: r.query_count,
    errorQueryCount: r.error_query_count,
    hasErrors: r.has_errors,
    namespaces: r.namespaces,
    agents: r.agents,
    teams: r.teams,
    models: r.models,
    tools: r.tools,
    tokens: { input: r.tokens_input, output: r.tokens_output, total: r.tokens_total },
  };
}
export type SessionJson = ReturnType<typeof sessionJson>;

export function queryJson(q: QueryRow) {
  return {
    queryKey: q.query_key,
    queryId: q.query_id,
    queryName: q.query_name,
    sessionId: q.session_id,
    namespace: q.namespace,
    userId: q.user_id,
    target: q.target_type || q.target_name ? { type: q.target_type, name: q.target_name } : null,
    agent: q.agent,
    phase: q.phase,
    input: q.input,
    response: q.response,
    error: q.phase === 'error' ? q.error : null,
    lastError: q.error_at ? { error: q.error, at: q.error_at.toISOString() } : null,
    startedAt: q.started_at.toISOString(),
    completedAt: iso(q.completed_at),
    lastEventAt: q.last_event_at.toISOString(),
    durationMs: q.duration_ms ?? (q.completed_at ? q.completed_at.getTime() - q.started_at.getTime() : null),
    tokens: { input: num(q.tokens_input), output: num(q.tokens_output), total: num(q.tokens_total) },
    eventCount: Number(q.event_count),
  };
}

export function toolCallJson(t: ToolCallRow) {
  return {
    id: t.call_key,
    queryKey: t.query_key,
    queryId: t.query_id,
    sessionId: t.session_id ?? null,
    toolName: t.tool_name,
    toolType: t.tool_type,
    toolId: t.tool_id,
    status: t.status,
    parameters: t.parameters,
    result: t.result,
    error: t.error,
    mcpSessionId: t.mcp_session_id,
    traceId: t.trace_id,
    spanId: t.span_id,
    parentSpanId: t.parent_span_id,
    startedAt: iso(t.started_at),
    endedAt: iso(t.ended_at),
    durationMs: t.duration_ms ?? (t.started_at && t.ended_at ? t.ended_at.getTime() - t.started_at.getTime() : null),
  };
}
export type ToolCallJson = ReturnType<typeof toolCallJson>;

export function llmCallJson(l: LlmCallRow) {
  const input = num(l.tokens_input);
  const output = num(l.tokens_output);
  return {
    id: l.call_key,
    queryKey: l.query_key,
    model: l.model,
    modelType: l.model_type,
    status: l.status,
    error: l.error,
    tokens: { input, output, total: num(l.tokens_total) ?? (input !== null || output !== null ? (input ?? 0) + (output ?? 0) : null) },
    traceId: l.trace_id,
    spanId: l.span_id,
    parentSpanId: l.parent_span_id,
    startedAt: iso(l.started_at),
    endedAt: iso(l.ended_at),
    durationMs: l.duration_ms ?? (l.started_at && l.ended_at ? l.ended_at.getTime() - l.started_at.getTime() : null),
    firstChunkAt: iso(l.first_chunk_at),
    timeToFirstTokenMs: l.first_chunk_at && l.started_at ? l.first_chunk_at.getTime() - l.started_at.getTime() : null,
  };
}

const NO_CHUNKS = { count: 0, firstChunkAt: null as string | null, lastChunkAt: null as string | null, streamCompleted: false };

function cappedJson<Row, Json>(list: CappedList<Row> | undefined, toJson: (row: Row) => Json): CappedList<Json> {
  return list ? { items: list.items.map(toJson), total: list.total, truncated: list.truncated } : { items: [], total: 0, truncated: false };
}

/** The calls and chunk summaries of a set of queries, by query key (calls) and by any query name (chunks). */
export interface QueryDetails {
  toolCalls: Map<string, CappedList<ToolCallRow>>;
  llmCalls: Map<string, CappedList<LlmCallRow>>;
  chunks: Map<string, ChunkSummaryRow>;
}

/** A query with its tool calls, LLM calls and chunk summary (chunks are filed under its key, UID or name). */
export function queryWithCallsJson(q: QueryRow, details: QueryDetails) {
  const chunk = [q.query_key, q.query_id, q.query_name].map((k) => (k === null ? undefined : details.chunks.get(k))).find((c) => c !== undefined);
  return {
    ...queryJson(q),
    toolCalls: cappedJson(details.toolCalls.get(q.query_key), toolCallJson),
    llmCalls: cappedJson(details.llmCalls.get(q.query_key), llmCallJson),
    chunks: chunk
      ? { count: Number(chunk.chunks), firstChunkAt: iso(chunk.first_at), lastChunkAt: iso(chunk.last_at), streamCompleted: chunk.completed }
      : NO_CHUNKS,
  };
}
export type QueryWithCallsJson = ReturnType<typeof queryWithCallsJson>;

export function pendingApprovalsJson(rows: readonly PendingApprovalRow[]) {
  const total = Number(rows[0]?.total ?? 0);
  return {
    items: rows.map((r) => ({
      queryId: r.query_id,
      taskId: r.task_id,
      toolCalls: r.tool_calls,
      requestedAt: r.time.toISOString(),
      sessionId: r.session_id,
      sequence: Number(r.sequence),
    })),
    total,
    truncated: total > rows.length,
  };
}

export function messageJson(m: SessionMessageRow) {
  return {
    position: Number(m.global_position),
    conversationId: m.conversation_id,
    queryId: m.query_id,
    message: m.message,
    recordedAt: m.recorded_at.toISOString(),
  };
}
