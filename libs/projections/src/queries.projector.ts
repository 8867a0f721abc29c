import { sql, type Transaction } from 'kysely';
import { PREPARED, type Database } from '#ark/database';
import { isQuerySubmission, workStepOf, type ArkEvent } from '#ark/event-store';
import type { QueryKeys } from './query-identity.js';
import { applyQuerySignal, phaseOfReason, type QueryPhase, type QuerySignal } from './session-query-rules.js';
import {
  column,
  eventData,
  isObject,
  iso,
  jsonValue,
  num,
  operationData,
  reasonOf,
  sessionRankOf,
  startTimeOf,
  text,
  tokensOf,
  writesLlmCall,
} from './work-events.js';

interface QueryInput {
  tenantId: string;
  key: string;
  queryId: string | null;
  queryName: string | null;
  traceId: string | null;
  sessionId: string;
  sessionRank: number;
  namespace: string | null;
  userId: string | null;
  targetType: string | null;
  targetName: string | null;
  agent: string | null;
  input: string | null;
  response: string | null;
  error: string | null;
  errorAt: string | null;
  doneAt: string | null;
  canceledAt: string | null;
  startedAt: string;
  at: string;
  durationMs: number | null;
  tokensInput: number | null;
  tokensOutput: number | null;
  tokensTotal: number | null;
  position: number;
  /** The query's submission to the executors' queue (isQuerySubmission): it waits, no work yet. */
  queued: boolean;
}

/** The signal columns of a row, from which the phase is derived. */
export interface QuerySignals {
  /** Only its submission so far: pending until its work begins. */
  queued: boolean;
  started_at: Date;
  error: unknown;
  error_at: Date | null;
  done_at: Date[];
  canceled_at: Date | null;
}

function target(value: unknown): { type: string | null; name: string | null } {
  if (isObject(value)) return { type: text(value.type) ?? text(value.kind), name: text(value.name) };
  return { type: null, name: text(value) };
}

/** What one event says about its query, or undefined when it says nothing. */
function inputOf(e: ArkEvent, keys: QueryKeys): QueryInput | undefined {
  const key = keys.of(e);
  if (!key) return undefined;
  const work = workStepOf(e);
  const data = eventData(e);
  const op = operationData(e);
  const queued = isQuerySubmission(e);
  const isQuery = work?.family === 'query' || queued;
  const error = data.error ?? op.error ?? null;
  // Upstream's rules say what the event means for the query's phase (a ToolCallError is an error).
  const kind = phaseOfReason(reasonOf(e) ?? '', error);
  const at = e.time.toISOString();
  const t = isQuery ? target(data.target) : { type: null, name: null };
  const targetType = isQuery ? (text(op.targetType) ?? t.type) : null;
  const opTargetName = targetType === 'team' ? text(op.team) : targetType === 'tool' ? text(op.tool) : targetType === 'model' ? text(op.model) : text(op.agent);
  const tokens = isQuery ? tokensOf(data, op) : { input: null, output: null, total: null };
  return {
    tenantId: e.tenantId,
    key,
    queryId: e.queryId,
    queryName: e.queryName,
    traceId: e.traceId,
    sessionId: e.sessionId,
    sessionRank: sessionRankOf(e),
    namespace: e.namespace,
    userId: e.userId,
    targetType,
    targetName: isQuery ? (text(op.targetName) ?? t.name ?? opTargetName) : null,
    agent: text(op.agent) ?? (work?.family === 'agent' ? text(data.agent) : null),
    input: isQuery ? jsonValue(data.input) : null,
    response: isQuery ? jsonValue(data.response ?? data.output) : null,
    error: kind === 'error' ? jsonValue(error) : null,
    errorAt: kind === 'error' ? at : null,
    doneAt: kind === 'done' ? at : null,
    canceledAt: kind === 'canceled' ? at : null,
    startedAt: (startTimeOf(e, work?.phase ?? 'started') ?? e.time).toISOString(),
    at,
    durationMs: isQuery && work?.phase !== 'started' ? num(data.durationMs) : null,
    tokensInput: tokens.input,
    tokensOutput: tokens.output,
    tokensTotal: tokens.total,
    position: e.globalPosition,
    queued,
  };
}

/**
 * The phase of a query from its signals, by upstream's rules (`applyQuerySignal`) applied in the
 * order the signals happened (producer time), not the order they arrived: the result is the same
 * whatever the arrival order. Only the latest error and the latest cancel matter (an error wins over
 * everything before it, a cancel never overrides an error), and every completion is kept, so folding
 * these few signals gives what folding all of them would.
 */
export function queryPhase(s: QuerySignals): { phase: QueryPhase; completedAt: Date | null } {
  const signals: (QuerySignal & { rank: number })[] = [
    ...s.done_at.map((at) => ({ reason: 'QueryExecutionComplete', at, rank: 0 })),
    ...(s.canceled_at ? [{ reason: 'QueryExecutionCanceled', at: s.canceled_at, rank: 1 }] : []),
    ...(s.error_at ? [{ reason: 'QueryExecutionError', at: s.error_at, error: s.error ?? 'error', rank: 2 }] : []),
  ].map((x) => ({ ...x, queryName: '', sequence: 0 }));
  signals.sort((a, b) => a.at.getTime() - b.at.getTime() || a.rank - b.rank);
  let q = applyQuerySignal(undefined, { reason: 'QueryExecutionStart', queryName: '', at: s.started_at, sequence: 0 });
  if (s.queued) q = { ...q, phase: 'pending' };
  for (const signal of signals) q = applyQuerySignal(q, signal);
  return { phase: q.phase, completedAt: q.completedAt };
}

/**
 * `queries`: one row per query (key: the query UID, else the trace), merged from its operation
 * events, its query span and every child (agent, team, LLM, tool) event. One upsert per batch with
 * commutative merges, then the phase of the touched rows is derived from their signal columns.
 * Last, the touched rows' call totals (LLM tokens, models, tools) are recomputed from their calls,
 * so it runs after the tool and LLM call projectors.
 */
export class QueriesProjector {
  readonly tables = ['queries'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[], keys: QueryKeys): Promise<void> {
    const rows = events.map((e) => inputOf(e, keys)).filter((r): r is QueryInput => r !== undefined);
    if (rows.length === 0) return;
    const c = <T>(pick: (r: QueryInput) => T, type: string) => column(rows.map(pick), type);
    const { rows: touched } = await sql<QuerySignals & { tenant_id: string; query_key: string; phase: QueryPhase; completed_at: Date | null }>`${PREPARED}
      INSERT INTO queries AS q (tenant_id, query_key, query_id, query_name, trace_id, session_id, session_rank, namespace, user_id,
                                target_type, target_name, agent, input, response, error, error_at, done_at, canceled_at,
                                started_at, last_event_at, duration_ms, tokens_input, tokens_output, tokens_total,
                                event_count, first_position, queued, phase)
      SELECT t, k, min(qid), min(qname), min(tr), (array_agg(sid ORDER BY srank DESC, sid DESC))[1], max(srank), min(ns), min(uid),
             min(ttype), min(tname), min(agent),
             (array_agg(input ORDER BY input) FILTER (WHERE input IS NOT NULL))[1],
             (array_agg(response ORDER BY response) FILTER (WHERE response IS NOT NULL))[1],
             (array_agg(err ORDER BY err_at DESC, err DESC NULLS LAST) FILTER (WHERE err_at IS NOT NULL))[1], max(err_at),
             coalesce(array_agg(DISTINCT done ORDER BY done) FILTER (WHERE done IS NOT NULL), '{}'), max(cancel),
             min(started), max(at), max(dur), max(tin), max(tout), max(ttot), count(*), min(pos), bool_and(queued),
             -- A new row's phase as queryPhase derives it when nothing decided it yet, so no second statement sets it.
             CASE WHEN bool_and(queued) THEN 'pending' ELSE 'running' END
      FROM unnest(${c((r) => r.tenantId, 'text')}, ${c((r) => r.key, 'text')}, ${c((r) => r.queryId, 'text')}, ${c((r) => r.queryName, 'text')}, ${c((r) => r.traceId, 'text')},
                  ${c((r) => r.sessionId, 'text')}, ${c((r) => r.sessionRank, 'smallint')}, ${c((r) => r.namespace, 'text')},
                  ${c((r) => r.userId, 'text')}, ${c((r) => r.targetType, 'text')}, ${c((r) => r.targetName, 'text')},
                  ${c((r) => r.agent, 'text')}, ${c((r) => r.input, 'jsonb')}, ${c((r) => r.response, 'jsonb')},
                  ${c((r) => r.error, 'jsonb')}, ${c((r) => r.errorAt, 'timestamptz')}, ${c((r) => r.doneAt, 'timestamptz')},
                  ${c((r) => r.canceledAt, 'timestamptz')}, ${c((r) => r.startedAt, 'timestamptz')}, ${c((r) => r.at, 'timestamptz')},
                  ${c((r) => r.durationMs, 'float8')}, ${c((r) => r.tokensInput, 'bigint')}, ${c((r) => r.tokensOutput, 'bigint')},
                  ${c((r) => r.tokensTotal, 'bigint')}, ${c((r) => r.position, 'bigint')}, ${c((r) => r.queued, 'boolean')})
           AS e(t, k, qid, qname, tr, sid, srank, ns, uid, ttype, tname, agent, input, response, err, err_at, done, cancel,
                started, at, dur, tin, tout, ttot, pos, queued)
      GROUP BY t, k
      ON CONFLICT (tenant_id, query_key) DO UPDATE SET
        query_id      = least(q.query_id, excluded.query_id),
        query_name    = least(q.query_name, excluded.query_name),
        trace_id      = least(q.trace_id, excluded.trace_id),
        session_id    = CASE WHEN (excluded.session_rank, excluded.session_id) > (q.session_rank, q.session_id) THEN excluded.session_id ELSE q.session_id END,
        session_rank  = greatest(q.session_rank, excluded.session_rank),
        namespace     = least(q.namespace, excluded.namespace),
        user_id       = least(q.user_id, excluded.user_id),
        target_type   = least(q.target_type, excluded.target_type),
        target_name   = least(q.target_name, excluded.target_name),
        agent         = least(q.agent, excluded.agent),
        input         = least(q.input, excluded.input),
        response      = least(q.response, excluded.response),
        error         = CASE WHEN excluded.error_at IS NOT NULL AND (q.error_at IS NULL OR excluded.error_at > q.error_at
                                  OR (excluded.error_at = q.error_at AND excluded.error IS NOT NULL AND (q.error IS NULL OR excluded.error > q.error)))
                             THEN excluded.error ELSE q.error END,
        error_at      = greatest(q.error_at, excluded.error_at),
        done_at       = ARRAY(SELECT DISTINCT d FROM unnest(q.done_at || excluded.done_at) AS d ORDER BY d),
        canceled_at   = greatest(q.canceled_at, excluded.canceled_at),
        started_at    = least(q.started_at, excluded.started_at),
        last_event_at = greatest(q.last_event_at, excluded.last_event_at),
        duration_ms   = greatest(q.duration_ms, excluded.duration_ms),
        tokens_input  = greatest(q.tokens_input, excluded.tokens_input),
        tokens_output = greatest(q.tokens_output, excluded.tokens_output),
        tokens_total  = greatest(q.tokens_total, excluded.tokens_total),
        event_count   = q.event_count + excluded.event_count,
        first_position = least(q.first_position, excluded.first_position),
        queued        = q.queued AND excluded.queued
      RETURNING tenant_id, query_key, phase, completed_at, queued, started_at, error, error_at, done_at, canceled_at`.execute(trx);
    // The upsert holds these rows' locks until commit, so deriving the phase here cannot race another writer.
    const changed = touched.flatMap((r) => {
      const next = queryPhase(r);
      return next.phase === r.phase && next.completedAt?.getTime() === r.completed_at?.getTime() ? [] : [{ t: r.tenant_id, k: r.query_key, ...next }];
    });
    if (changed.length > 0) {
      // Not PREPARED: an UPDATE … FROM the batch's keys (prepared-statements.ts).
      await sql`
        UPDATE queries q SET phase = x.phase, completed_at = x.completed_at
        FROM unnest(${column(
          changed.map((x) => x.t),
          'text',
        )}, ${column(
          changed.map((x) => x.k),
          'text',
        )},
                    ${column(
                      changed.map((x) => x.phase),
                      'text',
                    )}, ${column(
                      changed.map((x) => iso(x.completedAt)),
                      'timestamptz',
                    )})
             AS x(t, k, phase, completed_at)
        WHERE q.tenant_id = x.t AND q.query_key = x.k`.execute(trx);
    }
    // Call totals of the queries whose calls this batch wrote: the upsert locked their rows, and the
    // call projectors ran first (ark_roll_up_query_calls, migrations/functions/).
    const withCalls = [
      ...new Map(
        events.flatMap((e) => {
          const key = workStepOf(e)?.family === 'tool.call' || writesLlmCall(e) ? keys.of(e) : null;
          return key === null ? [] : [[`${e.tenantId}\u0000${key}`, { t: e.tenantId, k: key }] as const];
        }),
      ).values(),
    ];
    if (withCalls.length > 0) {
      await sql`${PREPARED}SELECT ark_roll_up_query_calls(${withCalls.map((r) => r.t)}::text[], ${withCalls.map((r) => r.k)}::text[])`.execute(trx);
    }
  }
}
