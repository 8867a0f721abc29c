import { sql, type Transaction } from 'kysely';
import type { Database } from '#ark/database';
import {
  EventLogRepository,
  updatedType,
  workStepOf,
  type NewArkEvent,
  type StreamEvent,
  type WorkFamily,
  type WorkPhase,
  type WorkStepResolver,
} from '#ark/event-store';
import { handOverQueryLookups, QueryLookups, resolveQueryKeys, type QueryReport } from './query-identity.js';
import { eventData, num, startTimeOf, text } from './work-events.js';

/**
 * The steps Ark reports from two sources, and how a report names its step:
 * - a tool call: its `ToolCall*` operation events and its `tool.<name>` span carry the LLM's tool call
 *   id; the normalisers give both the same `stepKey` (work-step.ts in libs/normalizer);
 * - a query: its `QueryExecution*` operation events name the UID, its `query.<name>` spans (and the
 *   controller's `query.<name>.dispatch`) the trace; both name session + namespace + name, so the
 *   query they resolve to (query-identity.ts) is the step: `step:query:<query key>:start|end`;
 * - an LLM call: its `LLMCall*` operation events carry no call id (only the query and the model), its
 *   `llm.<model>` span no UID. Ark's executor starts the span, then emits `LLMCallStart`, and emits
 *   `LLMCallComplete` (with `durationMs` since that start) before the span ends, all on one clock; its
 *   LLM calls within a query run one after another. So a report is the call of the same query and
 *   model that started within START_TOLERANCE_MS of it (a start: the span's start, the Start event's
 *   time, the Complete/Error event's time minus its duration; when a report has no start, the ends are
 *   compared, and an end without a start may close the open call of its model), the nearest when
 *   several; a span never joins a call that has another span. Else it is
 *   a new call, keyed by its span (`<traceId>:<spanId>`) or, from an operation event, by
 *   `op:<query key>:<model>:<start>`. The call key is written into every report (`data.callKey`), so
 *   the `llm_calls` projector and a rebuild fold each report into the call chosen here:
 *   `step:llm.call:<call key>:start|end`.
 */
const START_TOLERANCE_MS = 2;

const QUERY_STEP_SOURCES: ReadonlySet<string> = new Set(['otlp', 'operation-event']);

const stepPhase = (phase: WorkPhase) => (phase === 'started' ? 'start' : 'end');

interface Step {
  family: WorkFamily;
  phase: WorkPhase;
  key: string;
  /** The LLM call the report belongs to (data.callKey). */
  callKey?: string;
}

/** A known LLM call of a query, from `llm_calls` or an earlier report of the batch. */
interface LlmCall {
  callKey: string;
  model: string | null;
  spanId: string | null;
  start: number | null;
  end: number | null;
}

/** An LLM call report: which query and model, and when it started and ended as far as it says. */
interface LlmReport {
  model: string | null;
  spanId: string | null;
  traceId: string | null;
  start: number | null;
  end: number | null;
}

function llmReportOf(event: NewArkEvent, phase: WorkPhase): LlmReport | undefined {
  if (!event.time) return undefined;
  const data = eventData(event);
  const time = event.time.getTime();
  const isSpan = event.source === 'otlp' && Boolean(event.spanId);
  const duration = num(data.durationMs);
  const start = isSpan
    ? (startTimeOf({ data: event.data, time: event.time }, phase)?.getTime() ?? null)
    : phase === 'started'
      ? time
      : duration === null
        ? null
        : time - duration;
  return {
    model: text(data.model),
    spanId: isSpan ? event.spanId! : null,
    traceId: event.traceId ?? null,
    start,
    end: phase === 'started' ? null : time,
  };
}

/**
 * How far a report is from a known call (ms), or undefined when it cannot be that call. A report
 * with an end and no start (a Complete event without `durationMs`) may also be the call of its model
 * still open before it (`open`: ranked after every call within the tolerance).
 */
function distance(call: LlmCall, report: LlmReport): { d: number; open: boolean } | undefined {
  if (call.model !== report.model) return undefined;
  if (report.spanId && call.spanId) return call.spanId === report.spanId ? { d: -1, open: false } : undefined;
  const d =
    call.start !== null && report.start !== null
      ? Math.abs(call.start - report.start)
      : call.end !== null && report.end !== null
        ? Math.abs(call.end - report.end)
        : undefined;
  if (d !== undefined) return d <= START_TOLERANCE_MS ? { d, open: false } : undefined;
  if (report.start === null && report.end !== null && call.end === null && call.start !== null && call.start <= report.end + START_TOLERANCE_MS) {
    return { d: report.end - call.start, open: true };
  }
  return undefined;
}

const reportOf = (item: StreamEvent, i: number): QueryReport => ({
  tenantId: item.tenantId,
  sessionId: item.sessionId,
  queryId: item.event.queryId ?? null,
  queryName: item.event.queryName ?? null,
  namespace: item.event.namespace ?? null,
  traceId: item.event.traceId ?? null,
  source: item.event.source,
  type: item.event.type,
  data: item.event.data,
  globalPosition: i,
});

/** The one WorkStepResolver (see WorkStepResolver in libs/event-store): tool calls, queries and LLM calls. */
export class WorkSteps implements WorkStepResolver {
  async resolve(trx: Transaction<Database>, items: readonly StreamEvent[]): Promise<StreamEvent[]> {
    const needsQuery = (e: NewArkEvent, family: WorkFamily | undefined) =>
      !e.stepKey && (family === 'query' || family === 'llm.call') && QUERY_STEP_SOURCES.has(e.source) && Boolean(e.queryName);
    const candidates = items.flatMap((item, i) => {
      const work = workStepOf(item.event);
      return work && (item.event.stepKey || needsQuery(item.event, work.family)) ? [{ i, item, work }] : [];
    });
    if (candidates.length === 0) return items.map(withoutStepKey);
    const log = new EventLogRepository(trx);
    // Under the sessions' locks, nothing this reads of them changes before the events are written.
    await log.lockSessions(trx, items);
    const steps = new Map<number, Step>();
    if (candidates.some((c) => needsQuery(c.item.event, c.work.family))) {
      const reports = items.map(reportOf);
      // The same transaction's WorkProjector resolves the appended events again: it reuses these rows.
      const lookups = new QueryLookups();
      const queryKeys = await resolveQueryKeys(trx, reports, lookups);
      handOverQueryLookups(trx, lookups);
      const calls = await this.knownLlmCalls(
        trx,
        candidates
          .flatMap((c) => (c.work.family === 'llm.call' && needsQuery(c.item.event, c.work.family) ? [reports[c.i]!] : []))
          .map((r) => ({
            tenantId: r.tenantId,
            queryKey: queryKeys.of(r),
          })),
      );
      for (const { i, item, work } of candidates) {
        if (!needsQuery(item.event, work.family)) continue;
        const queryKey = queryKeys.of(reports[i]!);
        if (queryKey === null) continue;
        if (work.family === 'query') {
          steps.set(i, { ...work, key: `step:query:${queryKey}:${stepPhase(work.phase)}` });
          continue;
        }
        const report = llmReportOf(item.event, work.phase);
        if (!report) continue;
        const known = calls.get(`${item.tenantId}\u0000${queryKey}`) ?? [];
        calls.set(`${item.tenantId}\u0000${queryKey}`, known);
        const callKey = this.callOf(known, report, queryKey);
        steps.set(i, { ...work, key: `step:llm.call:${callKey}:${stepPhase(work.phase)}`, callKey });
      }
    }
    for (const { i, item, work } of candidates) if (item.event.stepKey) steps.set(i, { ...work, key: item.event.stepKey });
    return this.decide(log, trx, items, steps);
  }

  /** The call a report belongs to (see START_TOLERANCE_MS); a new one is added to `known`, and what the report says is added to its call. */
  private callOf(known: LlmCall[], report: LlmReport, queryKey: string): string {
    let best: { call: LlmCall; d: number; open: boolean } | undefined;
    for (const call of known) {
      const found = distance(call, report);
      if (found && (!best || (best.open && !found.open) || (best.open === found.open && found.d < best.d))) best = { call, ...found };
    }
    const call = best?.call ?? {
      callKey: report.spanId
        ? `${report.traceId ?? ''}:${report.spanId}`
        : `op:${queryKey}:${report.model ?? ''}:${new Date((report.start ?? report.end)!).toISOString()}`,
      model: report.model,
      spanId: null,
      start: null,
      end: null,
    };
    if (!best) known.push(call);
    call.spanId ??= report.spanId;
    if (report.start !== null) call.start = call.start === null ? report.start : Math.min(call.start, report.start);
    if (report.end !== null) call.end = call.end === null ? report.end : Math.max(call.end, report.end);
    return call.callKey;
  }

  /**
   * The LLM calls already projected for these queries: one probe of llm_calls_query per query. Not
   * PREPARED: planned per call, so a generic plan made while llm_calls had no statistics cannot keep
   * reading a tenant's calls through another index.
   */
  private async knownLlmCalls(trx: Transaction<Database>, queries: readonly { tenantId: string; queryKey: string | null }[]): Promise<Map<string, LlmCall[]>> {
    const keys = [...new Map(queries.filter((q) => q.queryKey !== null).map((q) => [`${q.tenantId}\u0000${q.queryKey}`, q])).values()];
    const calls = new Map<string, LlmCall[]>();
    if (keys.length === 0) return calls;
    const { rows } = await sql<{
      tenant_id: string;
      query_key: string;
      call_key: string;
      model: string | null;
      span_id: string | null;
      started_at: Date | null;
      ended_at: Date | null;
    }>`
      SELECT l.tenant_id, l.query_key, l.call_key, l.model, l.span_id, l.started_at, l.ended_at
      FROM unnest(${keys.map((k) => k.tenantId)}::text[], ${keys.map((k) => k.queryKey)}::text[]) AS k(t, qk)
      CROSS JOIN LATERAL (SELECT * FROM llm_calls l WHERE l.tenant_id = k.t AND l.query_key = k.qk ORDER BY l.first_position) l`.execute(trx);
    for (const r of rows) {
      const key = `${r.tenant_id}\u0000${r.query_key}`;
      calls.set(key, [
        ...(calls.get(key) ?? []),
        { callKey: r.call_key, model: r.model, spanId: r.span_id, start: r.started_at?.getTime() ?? null, end: r.ended_at?.getTime() ?? null },
      ]);
    }
    return calls;
  }

  /**
   * The first report of each step (nothing stored under its key, none earlier in the batch) is written
   * under the step key; a retry of a stored report (same source, span, type and time) too, which makes
   * it a no-op; any other report becomes `<family>.updated` under its own dedupe key.
   */
  private async decide(log: EventLogRepository, trx: Transaction<Database>, items: readonly StreamEvent[], steps: Map<number, Step>): Promise<StreamEvent[]> {
    const keyOf = (item: StreamEvent, step: Step) => `${item.tenantId}\u0000${item.sessionId}\u0000${step.key}`;
    const stored = await log.storedReports(
      trx,
      [...steps].map(([i, step]) => ({ tenantId: items[i]!.tenantId, sessionId: items[i]!.sessionId, dedupeKey: step.key })),
    );
    const firsts = new Map(stored);
    return items.map((item, i) => {
      const step = steps.get(i);
      if (!step) return withoutStepKey(item);
      const { stepKey: _, ...event } = item.event;
      const data = step.callKey ? { ...eventData(event), callKey: step.callKey } : event.data;
      const first = firsts.get(keyOf(item, step));
      if (!first) firsts.set(keyOf(item, step), { source: event.source, spanId: event.spanId ?? null, type: event.type, time: event.time ?? new Date(NaN) });
      const retry =
        first &&
        first.source === event.source &&
        first.spanId === (event.spanId ?? null) &&
        first.type === event.type &&
        first.time.getTime() === (event.time?.getTime() ?? NaN);
      if (!first || retry) return { ...item, event: { ...event, dedupeKey: step.key, data } };
      return { ...item, event: { ...event, type: updatedType(step.family), data: { ...eventData({ data }), phase: step.phase } } };
    });
  }
}

function withoutStepKey(item: StreamEvent): StreamEvent {
  if (item.event.stepKey === undefined) return item;
  const { stepKey: _, ...event } = item.event;
  return { ...item, event };
}
