import { sql, type RawBuilder } from 'kysely';
import { FAMILY_OPERATIONS, PHASE_REASONS, workStepOf, type ArkEvent, type WorkPhase } from '#ark/event-store';

/**
 * What the queries / tool calls / LLM calls projectors read from an ark event: its family and phase,
 * the query and session it belongs to, and its times. Pure functions over the data the normalizers
 * write (libs/normalizer), shared by the three projectors so they correlate the same way.
 */

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
export const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null);
export const num = (v: unknown): number | null => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
};

export const eventData = (e: Pick<ArkEvent, 'data'>): Json => (isObject(e.data) ? e.data : {});

/** The operation event body as posted (`data.operationEvent`), for fields the normaliser does not lift. */
export function operationData(e: ArkEvent): Json {
  if (e.source !== 'operation-event') return {};
  const body = eventData(e).operationEvent;
  return isObject(body) && isObject(body.data) ? body.data : {};
}

/**
 * The upstream reason an event stands for: an operation event's own reason; for a span or producer
 * event of a known family, the `<Operation><Phase>` reason it would have been (a failed tool span is a
 * `ToolCallError`). Feeds `phaseOfReason`, so spans and operation events follow the same rules.
 */
export function reasonOf(e: ArkEvent): string | undefined {
  if (e.source === 'operation-event') {
    const body = eventData(e).operationEvent;
    const reason = isObject(body) ? body.reason : undefined;
    return typeof reason === 'string' ? reason : '';
  }
  const work = workStepOf(e);
  return work && FAMILY_OPERATIONS[work.family] + PHASE_REASONS[work.phase];
}

/**
 * The `llm_calls` row an LLM call event writes: `data.callKey`, which WorkSteps gives every report of
 * a call from either source (a span and the `LLMCall*` operation events of one call share it); else,
 * for a span stored without one, its own `<traceId>:<spanId>`. Null: no row (an operation event
 * stored without a call key only feeds its query's phase).
 */
export function llmCallKeyOf(e: ArkEvent): string | null {
  if (workStepOf(e)?.family !== 'llm.call') return null;
  const callKey = eventData(e).callKey;
  if (typeof callKey === 'string' && callKey !== '') return callKey;
  return e.spanId && e.source !== 'operation-event' ? `${e.traceId ?? ''}:${e.spanId}` : null;
}

/** Whether an event writes an `llm_calls` row (llmCallKeyOf). */
export const writesLlmCall = (e: ArkEvent): boolean => llmCallKeyOf(e) !== null;

/** 0: a span's placeholder session (`trace-…`); 1: the query UID used as the session; 2: a real session. */
export function sessionRankOf(e: ArkEvent): number {
  if (e.sessionId.startsWith('trace-')) return 0;
  return e.sessionId === e.queryId ? 1 : 2;
}

function nanosToDate(nanos: unknown): Date | null {
  if (typeof nanos !== 'string' || !/^\d+$/.test(nanos) || nanos === '0') return null;
  return new Date(Number(BigInt(nanos) / 1_000_000n));
}

/** When the work began: the span's start, a start event's time, or an end minus its duration. */
export function startTimeOf(e: Pick<ArkEvent, 'data' | 'time'>, phase: WorkPhase): Date | null {
  const span = eventData(e).span;
  if (isObject(span)) {
    const start = nanosToDate(span.startTimeUnixNano);
    if (start) return start;
  }
  if (phase === 'started') return e.time;
  const duration = num(eventData(e).durationMs);
  return duration === null ? null : new Date(e.time.getTime() - duration);
}

/** When the work ended: the time of an end event (a span's end time), else null. */
export const endTimeOf = (e: ArkEvent, phase: WorkPhase): Date | null => (phase === 'started' ? null : e.time);

/**
 * A value for a jsonb column: undefined/null → SQL NULL; a string holding a JSON object or array (what
 * spans carry in `tool.input`) is parsed, so it merges with the operation event's structured value.
 */
export function jsonValue(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') {
    const t = v.trim();
    if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
      try {
        return JSON.stringify(JSON.parse(t));
      } catch {
        // not JSON after all: keep the string
      }
    }
  }
  return JSON.stringify(v);
}

export const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** Typed `unnest` column: `${values}::type[]`. */
export const column = (values: readonly unknown[], type: string): RawBuilder<unknown> => sql`${values}::${sql.raw(type)}[]`;

/** Status precedence of calls: a failure outranks a completion, which outranks a start. */
export const STATUS_RANK = (expr: RawBuilder<unknown>) => sql`(CASE ${expr} WHEN 'failed' THEN 3 WHEN 'completed' THEN 2 ELSE 1 END)`;

export function callStatus(phase: WorkPhase): 'started' | 'completed' | 'failed' {
  return phase === 'started' ? 'started' : phase === 'completed' ? 'completed' : 'failed';
}

/** Token counts of `data.tokens` (spans) or Ark's usage fields in an operation event body. */
export function tokensOf(data: Json, op: Json): { input: number | null; output: number | null; total: number | null } {
  const t = isObject(data.tokens)
    ? data.tokens
    : isObject(op.tokens)
      ? op.tokens
      : isObject(op.tokenUsage)
        ? op.tokenUsage
        : isObject(op.usage)
          ? op.usage
          : {};
  return {
    input: num(t.input ?? t.promptTokens ?? t.prompt_tokens ?? t.inputTokens),
    output: num(t.output ?? t.completionTokens ?? t.completion_tokens ?? t.outputTokens),
    total: num(t.total ?? t.totalTokens ?? t.total_tokens),
  };
}
