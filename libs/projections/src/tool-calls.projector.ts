import { sql, type Transaction } from 'kysely';
import { PREPARED, type Database } from '#ark/database';
import { workStepOf, type ArkEvent } from '#ark/event-store';
import type { QueryKeys } from './query-identity.js';
import { callStatus, column, endTimeOf, eventData, iso, jsonValue, num, startTimeOf, STATUS_RANK, text } from './work-events.js';

interface ToolCallInput {
  tenantId: string;
  key: string;
  queryKey: string;
  queryId: string | null;
  traceId: string | null;
  spanId: string | null;
  parentSpanId: string | null;
  toolName: string | null;
  toolType: string | null;
  toolId: string | null;
  parameters: string | null;
  result: string | null;
  error: string | null;
  status: 'started' | 'completed' | 'failed';
  mcpSessionId: string | null;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  position: number;
}

/**
 * The row key of a tool call: `<query>|<tool id>`, so the `ToolCall*` operation events and the
 * `tool.<name>` span of one call (both carrying the LLM's tool call id) land on one row; without a
 * tool id, the span (`span:<id>`), else the tool name within the query.
 */
export function toolCallKey(queryKey: string, toolId: string | null, spanId: string | null, toolName: string | null): string {
  return `${queryKey}|${toolId ?? (spanId ? `span:${spanId}` : `name:${toolName ?? ''}`)}`;
}

function inputOf(e: ArkEvent, keys: QueryKeys): ToolCallInput | undefined {
  const work = workStepOf(e);
  if (work?.family !== 'tool.call') return undefined;
  const d = eventData(e);
  const queryKey = keys.of(e) ?? `session:${e.sessionId}`;
  const toolName = text(d.toolName);
  const toolId = text(d.toolId);
  return {
    tenantId: e.tenantId,
    key: toolCallKey(queryKey, toolId, e.spanId, toolName),
    queryKey,
    queryId: e.queryId,
    traceId: e.traceId,
    spanId: e.spanId,
    parentSpanId: e.parentSpanId,
    toolName,
    toolType: text(d.toolType),
    toolId,
    parameters: jsonValue(d.parameters),
    result: jsonValue(d.result),
    error: work.phase === 'started' ? null : jsonValue(d.error ?? (work.phase === 'canceled' ? 'canceled' : null)),
    status: callStatus(work.phase),
    mcpSessionId: text(d.mcpSessionId),
    startedAt: iso(startTimeOf(e, work.phase)),
    endedAt: iso(endTimeOf(e, work.phase)),
    durationMs: num(d.durationMs),
    position: e.globalPosition,
  };
}

/**
 * `tool_calls`: one row per tool call, its start and end, operation event and span merged with
 * commutative rules (least of descriptive values, earliest start, latest end, failed > completed >
 * started), so any arrival order gives the same row. One upsert per batch.
 */
export class ToolCallsProjector {
  readonly tables = ['tool_calls'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[], keys: QueryKeys): Promise<void> {
    const rows = events.map((e) => inputOf(e, keys)).filter((r): r is ToolCallInput => r !== undefined);
    if (rows.length === 0) return;
    const c = <T>(pick: (r: ToolCallInput) => T, type: string) => column(rows.map(pick), type);
    await sql`${PREPARED}
      INSERT INTO tool_calls AS q (tenant_id, call_key, query_key, query_id, trace_id, span_id,
                                   parent_span_id, tool_name, tool_type, tool_id, parameters, result, error, status,
                                   mcp_session_id, started_at, ended_at, duration_ms, event_count, first_position)
      SELECT t, k, min(qk), min(qid), min(trace), min(span),
             min(parent), min(name), min(ttype), min(tid),
             (array_agg(params ORDER BY params) FILTER (WHERE params IS NOT NULL))[1],
             (array_agg(res ORDER BY res) FILTER (WHERE res IS NOT NULL))[1],
             (array_agg(err ORDER BY err) FILTER (WHERE err IS NOT NULL))[1],
             (array_agg(status ORDER BY ${STATUS_RANK(sql`status`)} DESC))[1],
             min(mcp), min(started), max(ended), max(dur), count(*), min(pos)
      FROM unnest(${c((r) => r.tenantId, 'text')}, ${c((r) => r.key, 'text')}, ${c((r) => r.queryKey, 'text')}, ${c((r) => r.queryId, 'text')},
                   ${c((r) => r.traceId, 'text')},
                  ${c((r) => r.spanId, 'text')}, ${c((r) => r.parentSpanId, 'text')}, ${c((r) => r.toolName, 'text')},
                  ${c((r) => r.toolType, 'text')}, ${c((r) => r.toolId, 'text')}, ${c((r) => r.parameters, 'jsonb')},
                  ${c((r) => r.result, 'jsonb')}, ${c((r) => r.error, 'jsonb')}, ${c((r) => r.status, 'text')},
                  ${c((r) => r.mcpSessionId, 'text')}, ${c((r) => r.startedAt, 'timestamptz')}, ${c((r) => r.endedAt, 'timestamptz')},
                  ${c((r) => r.durationMs, 'float8')}, ${c((r) => r.position, 'bigint')})
           AS e(t, k, qk, qid, trace, span, parent, name, ttype, tid, params, res, err, status, mcp, started, ended, dur, pos)
      GROUP BY t, k
      ON CONFLICT (tenant_id, call_key) DO UPDATE SET
        query_id       = least(q.query_id, excluded.query_id),
        trace_id       = least(q.trace_id, excluded.trace_id),
        span_id        = least(q.span_id, excluded.span_id),
        parent_span_id = least(q.parent_span_id, excluded.parent_span_id),
        tool_name      = least(q.tool_name, excluded.tool_name),
        tool_type      = least(q.tool_type, excluded.tool_type),
        tool_id        = least(q.tool_id, excluded.tool_id),
        parameters     = least(q.parameters, excluded.parameters),
        result         = least(q.result, excluded.result),
        error          = least(q.error, excluded.error),
        status         = CASE WHEN ${STATUS_RANK(sql`excluded.status`)} > ${STATUS_RANK(sql`q.status`)} THEN excluded.status ELSE q.status END,
        mcp_session_id = least(q.mcp_session_id, excluded.mcp_session_id),
        started_at     = least(q.started_at, excluded.started_at),
        ended_at       = greatest(q.ended_at, excluded.ended_at),
        duration_ms    = greatest(q.duration_ms, excluded.duration_ms),
        event_count    = q.event_count + excluded.event_count,
        first_position = least(q.first_position, excluded.first_position)`.execute(trx);
  }
}
