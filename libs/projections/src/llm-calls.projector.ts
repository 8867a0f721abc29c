import { sql, type RawBuilder, type Transaction } from 'kysely';
import { PREPARED, type Database } from '#ark/database';
import { LLM_CHUNK, workStepOf, type ArkEvent } from '#ark/event-store';
import type { QueryKeys } from './query-identity.js';
import { callStatus, column, endTimeOf, eventData, iso, jsonValue, num, startTimeOf, STATUS_RANK, text, tokensOf, llmCallKeyOf } from './work-events.js';

interface LlmCallInput {
  tenantId: string;
  key: string;
  queryKey: string;
  queryId: string | null;
  queryName: string | null;
  traceId: string | null;
  spanId: string | null;
  parentSpanId: string | null;
  model: string | null;
  modelType: string | null;
  status: 'started' | 'completed' | 'failed';
  error: string | null;
  tokensInput: number | null;
  tokensOutput: number | null;
  tokensTotal: number | null;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  position: number;
}

function inputOf(e: ArkEvent, keys: QueryKeys): LlmCallInput | undefined {
  const work = workStepOf(e);
  const key = llmCallKeyOf(e);
  if (!work || key === null) return undefined;
  const d = eventData(e);
  const tokens = tokensOf(d, {});
  return {
    tenantId: e.tenantId,
    key,
    queryKey: keys.of(e) ?? `session:${e.sessionId}`,
    queryId: e.queryId,
    queryName: e.queryName,
    traceId: e.traceId,
    spanId: e.spanId,
    parentSpanId: e.parentSpanId,
    model: text(d.model),
    modelType: text(d.modelType),
    status: callStatus(work.phase),
    error: work.phase === 'started' ? null : jsonValue(d.error ?? null),
    tokensInput: tokens.input,
    tokensOutput: tokens.output,
    tokensTotal: tokens.total,
    startedAt: iso(startTimeOf(e, work.phase)),
    endedAt: iso(endTimeOf(e, work.phase)),
    durationMs: num(d.durationMs),
    position: e.globalPosition,
  };
}

/** A chunk of a query's completion stream (`llm.chunk`, source `chunk`): the query it was uploaded under (`query_name`: a name or a UID) and its time. */
function chunkOf(e: ArkEvent): { tenantId: string; query: string; at: string } | undefined {
  return e.type === LLM_CHUNK && e.queryName ? { tenantId: e.tenantId, query: e.queryName, at: e.time.toISOString() } : undefined;
}

/**
 * The first chunk of a call's query (uploaded under its UID, or under its name as Ark does) within
 * the call's window [started, ended]: two probes of events_llm_chunk_time (by upload path).
 */
function firstChunkAt(
  tenant: RawBuilder<unknown>,
  queryId: RawBuilder<unknown>,
  queryName: RawBuilder<unknown>,
  started: RawBuilder<unknown>,
  ended: RawBuilder<unknown>,
): RawBuilder<unknown> {
  const inWindow = (query: RawBuilder<unknown>) => sql`(SELECT min(e.time) FROM events e
      WHERE e.tenant_id = ${tenant} AND e.query_name = ${query} AND e.type = 'llm.chunk'
        AND e.time >= ${started} AND e.time <= coalesce(${ended}, 'infinity'))`;
  return sql`least(${inWindow(queryId)}, ${inWindow(queryName)})`;
}

/**
 * `llm_calls`: one row per LLM call span (start and end merged commutatively, like tool calls), with
 * tokens and the time of the first chunk of the query's stream inside the call (time to first token =
 * first_chunk_at − started_at). The first chunk is kept in step from both sides: a call's upsert
 * recomputes it from the log, a batch of chunks lowers it for the calls whose window holds them.
 */
export class LlmCallsProjector {
  readonly tables = ['llm_calls'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[], keys: QueryKeys): Promise<void> {
    const rows: LlmCallInput[] = [];
    const chunks: { tenantId: string; query: string; at: string }[] = [];
    for (const e of events) {
      const row = inputOf(e, keys);
      if (row) rows.push(row);
      else {
        const chunk = chunkOf(e);
        if (chunk) chunks.push(chunk);
      }
    }
    if (rows.length > 0) await this.upsert(trx, rows);
    if (chunks.length > 0) await this.applyChunks(trx, chunks);
  }

  /**
   * One statement: the upsert also sets `first_chunk_at` from the log for the merged call (the
   * chunks of its query, by UID or name, inside its time window). Computed in the same row write, it
   * costs no second row version, and ON CONFLICT finds each row by its key whatever the plan (a
   * separate UPDATE … FROM joined the calls by a plan fixed while the table was small: a scan of
   * every LLM call of the tenant per batch once it grew).
   */
  private async upsert(trx: Transaction<Database>, rows: LlmCallInput[]): Promise<void> {
    const c = <T>(pick: (r: LlmCallInput) => T, type: string) => column(rows.map(pick), type);
    await sql`${PREPARED}
        INSERT INTO llm_calls AS q (tenant_id, call_key, query_key, query_id, query_name, trace_id,
                                    span_id, parent_span_id, model, model_type, status, error, tokens_input, tokens_output,
                                    tokens_total, started_at, ended_at, duration_ms, event_count, first_position, first_chunk_at)
        SELECT g.*, ${firstChunkAt(sql`g.t`, sql`g.qid`, sql`g.qname`, sql`g.started`, sql`g.ended`)}
        FROM (
          SELECT t, k, min(qk), min(qid) AS qid, min(qname) AS qname, min(trace),
                 min(span), min(parent), min(model), min(mtype), (array_agg(status ORDER BY ${STATUS_RANK(sql`status`)} DESC))[1],
                 (array_agg(err ORDER BY err) FILTER (WHERE err IS NOT NULL))[1],
                 max(tin), max(tout), max(ttot), min(started) AS started, max(ended) AS ended, max(dur), count(*), min(pos)
          FROM unnest(${c((r) => r.tenantId, 'text')}, ${c((r) => r.key, 'text')}, ${c((r) => r.queryKey, 'text')}, ${c((r) => r.queryId, 'text')},
                      ${c((r) => r.queryName, 'text')},
                      ${c((r) => r.traceId, 'text')}, ${c((r) => r.spanId, 'text')}, ${c((r) => r.parentSpanId, 'text')},
                      ${c((r) => r.model, 'text')}, ${c((r) => r.modelType, 'text')}, ${c((r) => r.status, 'text')},
                      ${c((r) => r.error, 'jsonb')}, ${c((r) => r.tokensInput, 'bigint')}, ${c((r) => r.tokensOutput, 'bigint')},
                      ${c((r) => r.tokensTotal, 'bigint')}, ${c((r) => r.startedAt, 'timestamptz')}, ${c((r) => r.endedAt, 'timestamptz')},
                      ${c((r) => r.durationMs, 'float8')}, ${c((r) => r.position, 'bigint')})
               AS e(t, k, qk, qid, qname, trace, span, parent, model, mtype, status, err, tin, tout, ttot, started, ended, dur, pos)
          GROUP BY t, k
        ) g
        ON CONFLICT (tenant_id, call_key) DO UPDATE SET
          query_key      = least(q.query_key, excluded.query_key),
          query_id       = least(q.query_id, excluded.query_id),
          query_name     = least(q.query_name, excluded.query_name),
          trace_id       = least(q.trace_id, excluded.trace_id),
          span_id        = least(q.span_id, excluded.span_id),
          parent_span_id = least(q.parent_span_id, excluded.parent_span_id),
          model          = least(q.model, excluded.model),
          model_type     = least(q.model_type, excluded.model_type),
          status         = CASE WHEN ${STATUS_RANK(sql`excluded.status`)} > ${STATUS_RANK(sql`q.status`)} THEN excluded.status ELSE q.status END,
          error          = least(q.error, excluded.error),
          tokens_input   = greatest(q.tokens_input, excluded.tokens_input),
          tokens_output  = greatest(q.tokens_output, excluded.tokens_output),
          tokens_total   = greatest(q.tokens_total, excluded.tokens_total),
          started_at     = least(q.started_at, excluded.started_at),
          ended_at       = greatest(q.ended_at, excluded.ended_at),
          duration_ms    = greatest(q.duration_ms, excluded.duration_ms),
          event_count    = q.event_count + excluded.event_count,
          first_position = least(q.first_position, excluded.first_position),
          -- SET reads the row as it was: the window is that of the merged values written above.
          first_chunk_at = ${firstChunkAt(
            sql`q.tenant_id`,
            sql`least(q.query_id, excluded.query_id)`,
            sql`least(q.query_name, excluded.query_name)`,
            sql`least(q.started_at, excluded.started_at)`,
            sql`greatest(q.ended_at, excluded.ended_at)`,
          )}`.execute(trx);
  }

  /**
   * Lowers `first_chunk_at` of the calls of these chunks' queries whose time window holds them. The
   * chunks are grouped per query first (one row each), and the calls are found through the query-id
   * and query-name indexes separately (an OR across the two columns would scan the table), limited to
   * calls that started at most an hour before the first chunk (query names repeat over time).
   */
  private async applyChunks(trx: Transaction<Database>, chunks: { tenantId: string; query: string; at: string }[]): Promise<void> {
    const byQuery = new Map<string, { tenantId: string; query: string; times: string[] }>();
    for (const k of chunks) {
      const key = `${k.tenantId}\u0000${k.query}`;
      const group = byQuery.get(key);
      if (group) group.times.push(k.at);
      else byQuery.set(key, { tenantId: k.tenantId, query: k.query, times: [k.at] });
    }
    const groups = [...byQuery.values()];
    // Not PREPARED: it joins the batch's queries to llm_calls (prepared-statements.ts).
    await sql`
      WITH k AS (
        SELECT * FROM unnest(${column(
          groups.map((g) => g.tenantId),
          'text',
        )}, ${column(
          groups.map((g) => g.query),
          'text',
        )},
                             ${column(
                               groups.map((g) => JSON.stringify(g.times)),
                               'jsonb',
                             )},
                             ${column(
                               groups.map((g) => g.times.reduce((a, b) => (a < b ? a : b))),
                               'timestamptz',
                             )},
                             ${column(
                               groups.map((g) => g.times.reduce((a, b) => (a > b ? a : b))),
                               'timestamptz',
                             )}) AS k(t, query, times, first, last)
      ), calls AS (
        SELECT l.tenant_id, l.call_key, l.started_at, l.ended_at, k.times FROM k JOIN llm_calls l ON l.tenant_id = k.t AND l.query_id = k.query
          AND l.started_at BETWEEN k.first - interval '1 hour' AND k.last
        UNION ALL
        SELECT l.tenant_id, l.call_key, l.started_at, l.ended_at, k.times FROM k JOIN llm_calls l ON l.tenant_id = k.t AND l.query_name = k.query
          AND l.started_at BETWEEN k.first - interval '1 hour' AND k.last
        WHERE l.query_id IS DISTINCT FROM k.query
      ), m AS (
        SELECT c.tenant_id, c.call_key, min(x.at) AS first
        FROM calls c CROSS JOIN LATERAL (SELECT (jsonb_array_elements_text(c.times))::timestamptz AS at) x
        WHERE x.at >= c.started_at AND (c.ended_at IS NULL OR x.at <= c.ended_at)
        GROUP BY c.tenant_id, c.call_key
      )
      UPDATE llm_calls c SET first_chunk_at = m.first FROM m
      WHERE c.tenant_id = m.tenant_id AND c.call_key = m.call_key AND (c.first_chunk_at IS NULL OR m.first < c.first_chunk_at)`.execute(trx);
  }
}
