import { SPAN_FAMILY, type NewArkEvent, type WorkFamily, type WorkPhase } from '#ark/event-store';
import { toolStepKey } from './work-step.js';
import type { Attributes, AttributeValue, OtlpSpan } from '#ark/otlp';

/** A span as an ark event for its session; the session may still be unknown (children before parents). */
export interface NormalizedSpan {
  /** From the span's own attributes; null when it carries none (see `resolveSpanSessions`). */
  sessionId: string | null;
  event: NewArkEvent;
}

const SESSION_ATTRIBUTES = ['ark.session.id', 'session.id', 'gen_ai.conversation.id'];
/** The LLM's tool call id, which the `ToolCall*` operation events of the call carry too. */
const TOOL_ID_ATTRIBUTES = ['tool.id', 'tool.call.id', 'gen_ai.tool.call.id'];

/** Span name prefixes Ark's Go code emits, and the ark event family each maps to (docs/events.md#4-event-types). */
const FAMILIES: [prefix: string, family: WorkFamily][] = [
  ['query.', 'query'],
  ['agent.', 'agent'],
  ['team.', 'team'],
  ['turn.', 'team.turn'],
  ['llm.', 'llm.call'],
  ['tool.', 'tool.call'],
];

const STATUS_ERROR = 2;

function text(value: AttributeValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function number(value: AttributeValue | undefined): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : null;
}

function first(attributes: Attributes, keys: readonly string[]): string | null {
  for (const key of keys) {
    const value = text(attributes[key]);
    if (value) return value;
  }
  return null;
}

/** The session a span names itself (attribute, then resource), or null. */
export function spanSessionId(span: OtlpSpan): string | null {
  return first(span.attributes, SESSION_ATTRIBUTES) ?? first(span.resource, SESSION_ATTRIBUTES);
}

function durationMs(span: OtlpSpan): number | null {
  if (!span.startTimeUnixNano || !span.endTimeUnixNano) return null;
  return Number((BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano)) / 1000n) / 1000;
}

function nanosToDate(nanos: string | null): Date | undefined {
  return nanos ? new Date(Number(BigInt(nanos) / 1_000_000n)) : undefined;
}

function family(name: string): { family: WorkFamily; subject: string } | null {
  for (const [prefix, f] of FAMILIES) if (name.startsWith(prefix) && name.length > prefix.length) return { family: f, subject: name.slice(prefix.length) };
  return null;
}

/** Fields of the family's data (docs/events.md#5-data-per-type), read from the attributes Ark sets. */
function familyData(f: string, subject: string, span: OtlpSpan): Record<string, unknown> {
  const a = span.attributes;
  const count = (keys: readonly string[]) => keys.map((k) => number(a[k])).find((n) => n !== null) ?? null;
  const tokens = {
    input: count(['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt']),
    output: count(['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion']),
    total: count(['gen_ai.usage.total_tokens', 'llm.token_count.total']),
  };
  const hasTokens = tokens.input !== null || tokens.output !== null || tokens.total !== null;
  switch (f) {
    case 'query':
      return {
        query: first(a, ['query.name']) ?? subject,
        target: first(a, ['query.target', 'target.name']),
        input: text(a['input.value']),
        output: text(a['output.value']),
        ...(hasTokens ? { tokens } : {}),
      };
    case 'agent':
    case 'team':
      // Named as the operation events name them: `<name>` (Ark's span is `agent.<namespace>/<name>`; the namespace is the query's).
      return { [f]: first(a, [`${f}.name`]) ?? subject.slice(subject.lastIndexOf('/') + 1), input: text(a['input.value']), output: text(a['output.value']) };
    case 'team.turn':
      return { turn: subject, team: first(a, ['team.name']) };
    case 'llm.call':
      return {
        model: first(a, ['llm.model.name', 'gen_ai.request.model', 'gen_ai.response.model']) ?? subject,
        modelType: first(a, ['llm.provider', 'gen_ai.system']),
        input: text(a['input.value']),
        output: text(a['output.value']),
        ...(hasTokens ? { tokens } : {}),
      };
    case 'tool.call':
      return {
        toolName: first(a, ['tool.name']) ?? subject,
        toolType: first(a, ['tool.type']),
        toolId: first(a, TOOL_ID_ATTRIBUTES),
        parameters: text(a['tool.input'] ?? a['input.value']),
        result: text(a['tool.output'] ?? a['output.value']),
        mcpSessionId: first(a, ['mcp.session.id']),
        ...(first(a, ['mcp.task.id']) === null ? {} : { mcpTaskId: first(a, ['mcp.task.id']) }),
      };
    default:
      return {};
  }
}

/**
 * One ark event per span phase received: a span without an end is a start (`*.started`); an ended
 * span completes it (`*.completed`, or `*.failed` with an error status). Unmapped names become
 * `span.started`/`span.ended`. `data.span` keeps the raw span, which `GET /traces` serves.
 */
export function normalizeSpan(span: OtlpSpan): NormalizedSpan {
  const mapped = family(span.name);
  const ended = span.endTimeUnixNano !== null;
  const phase = !ended ? 'started' : mapped ? (span.status.code === STATUS_ERROR ? 'failed' : 'completed') : 'ended';
  const type = `${mapped?.family ?? SPAN_FAMILY}.${phase}`;
  const a = span.attributes;
  const queryName = first(a, ['query.name']) ?? (mapped?.family === 'query' ? mapped.subject : null);
  const namespace = first(a, ['query.namespace', 'k8s.namespace.name']) ?? first(span.resource, ['k8s.namespace.name']);
  const familyFields = mapped ? familyData(mapped.family, mapped.subject, span) : {};
  return {
    sessionId: spanSessionId(span),
    event: {
      type,
      time: nanosToDate(ended ? span.endTimeUnixNano : span.startTimeUnixNano),
      queryId: first(a, ['query.uid', 'query.id', 'ark.query.uid']),
      queryName,
      namespace,
      userId: first(a, ['user.id', 'enduser.id']) ?? first(span.resource, ['user.id', 'enduser.id']),
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanId,
      source: 'otlp',
      dedupeKey: `span:${span.traceId}:${span.spanId}:${ended ? 'end' : 'start'}`,
      stepKey: mapped?.family === 'tool.call' ? toolStepKey(namespace, queryName, first(a, TOOL_ID_ATTRIBUTES), phase as WorkPhase) : null,
      data: {
        name: span.name,
        ...familyFields,
        ...(ended ? { durationMs: durationMs(span) } : {}),
        ...(span.status.code === STATUS_ERROR ? { error: span.status.message ?? 'error' } : {}),
        span,
      },
    },
  };
}

/**
 * Gives every span a session: its own (`ark.session.id`, `session.id`, `gen_ai.conversation.id`),
 * else one named by another span of its trace (in this batch or, via `knownTraceSessions`, stored
 * earlier), else the query UID (`query.uid`, `query.id`, `ark.query.uid`) of a span of its trace,
 * its own first, as upstream falls back for operation events; else `trace-<traceId>` so it stays
 * findable.
 */
export function resolveSpanSessions(spans: readonly NormalizedSpan[], knownTraceSessions: ReadonlyMap<string, string>): string[] {
  const byTrace = new Map(knownTraceSessions);
  for (const s of spans) if (s.sessionId && s.event.traceId && !byTrace.has(s.event.traceId)) byTrace.set(s.event.traceId, s.sessionId);
  const byUid = new Map<string, string>();
  for (const s of spans) if (s.event.queryId && s.event.traceId && !byUid.has(s.event.traceId)) byUid.set(s.event.traceId, s.event.queryId);
  return spans.map((s) => s.sessionId ?? byTrace.get(s.event.traceId!) ?? s.event.queryId ?? byUid.get(s.event.traceId!) ?? `trace-${s.event.traceId}`);
}
