import { randomBytes, randomFillSync } from 'node:crypto';
import { context, trace, type Attributes } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

/** One batch: this many Ark queries (one trace and one session each), each QUERY_SPANS spans. */
export const QUERIES_PER_BATCH = 10;
/** query → agent → (llm, tool) × 4. */
const LLM_TOOL_ROUNDS = 4;
const QUERY_SPANS = 2 + 2 * LLM_TOOL_ROUNDS;
export const SPANS_PER_BATCH = QUERIES_PER_BATCH * QUERY_SPANS;

const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;
const SESSION_ATTRIBUTE = 'ark.session.id';
/** Hex digits of the per-batch suffix of fresh query names and sessions. */
const SUFFIX_HEX = 12;

const QUERY_NAMES = ['weather-query', 'research-report', 'code-review', 'support-ticket', 'travel-plan'];
const AGENTS = ['weather-agent', 'researcher', 'reviewer', 'support-agent', 'planner'];
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4', 'llama-3.1-70b'];
const TOOLS = ['get-weather', 'web-search', 'read-file', 'create-ticket', 'book-flight', 'calculator'];

/**
 * Ark-shaped spans (as the Ark controller's tracer makes them: `query.<name>`, `agent.<ns>/<name>`,
 * `llm.<model>`, `tool.<name>`), made once with the SDK's TracerProvider and InMemorySpanExporter.
 * Their `ark.session.id` is a placeholder that `BatchTemplate` replaces.
 */
let shapes: { spans: ReadableSpan[]; queryOf: Map<ReadableSpan, number>; toolIds: string[] } | undefined;

/** An LLM's tool call id: unique per call, as OpenAI's `call_…` ids are. */
const toolCallId = () => `call_${randomBytes(12).toString('hex')}`;

function arkSpanShapes(): { spans: ReadableSpan[]; queryOf: Map<ReadableSpan, number>; toolIds: string[] } {
  if (shapes) return shapes;
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'ark-controller', 'service.version': '0.1.0', 'k8s.namespace.name': 'default' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('ark/controller', '0.1.0');
  const queryOf = new Map<string, number>();
  const toolIds: string[] = [];
  const base = Date.now();
  for (let q = 0; q < QUERIES_PER_BATCH; q++) {
    const queryName = QUERY_NAMES[q % QUERY_NAMES.length]!;
    const agentName = AGENTS[q % AGENTS.length]!;
    const common: Attributes = { [SESSION_ATTRIBUTE]: `placeholder-${q}`, 'query.name': queryName, 'query.namespace': 'default' };
    const t0 = base + q * 37;
    const query = tracer.startSpan(`query.${queryName}`, {
      startTime: t0,
      attributes: { ...common, 'input.value': `Question ${q}: what should I know about ${queryName}?` },
    });
    const queryContext = trace.setSpan(context.active(), query);
    const agent = tracer.startSpan(`agent.default/${agentName}`, { startTime: t0 + 1, attributes: { ...common, 'agent.name': agentName } }, queryContext);
    const agentContext = trace.setSpan(context.active(), agent);
    let t = t0 + 2;
    for (let round = 0; round < LLM_TOOL_ROUNDS; round++) {
      const model = MODELS[(q + round) % MODELS.length]!;
      const llm = tracer.startSpan(
        `llm.${model}`,
        {
          startTime: t,
          attributes: {
            ...common,
            'llm.model.name': model,
            'gen_ai.system': 'openai',
            'gen_ai.request.model': model,
            'gen_ai.usage.input_tokens': 350 + 40 * round + q,
            'gen_ai.usage.output_tokens': 60 + 7 * round,
          },
        },
        agentContext,
      );
      llm.end(t + 420);
      const tool = TOOLS[(q + round) % TOOLS.length]!;
      const toolId = toolCallId();
      toolIds.push(toolId);
      const toolSpan = tracer.startSpan(
        `tool.${tool}`,
        {
          startTime: t + 421,
          attributes: {
            ...common,
            'tool.name': tool,
            'tool.type': round % 2 === 0 ? 'mcp' : 'http',
            'tool.id': toolId,
            'tool.input': JSON.stringify({ query: `${queryName} step ${round}`, limit: 5 }),
            'tool.output': `result of ${tool} for step ${round}: ok`,
          },
        },
        agentContext,
      );
      toolSpan.end(t + 480);
      t += 500;
    }
    agent.end(t);
    query.setAttribute('output.value', `Answer ${q} about ${queryName}.`);
    query.end(t + 1);
    for (const span of [query, agent]) queryOf.set(span.spanContext().spanId, q);
  }
  const spans = exporter.getFinishedSpans();
  const byQuery = new Map<ReadableSpan, number>();
  for (const span of spans) {
    const q = queryOf.get(span.spanContext().spanId) ?? queryOf.get(span.parentSpanContext?.spanId ?? '');
    byQuery.set(span, q ?? 0);
  }
  if (spans.length !== SPANS_PER_BATCH) throw new Error(`expected ${SPANS_PER_BATCH} spans, the SDK made ${spans.length}`);
  shapes = { spans, queryOf: byQuery, toolIds };
  return shapes;
}

/** The same span with other attributes (and name); every other field, ids included, is the original's. */
function withAttributes(span: ReadableSpan, attributes: Attributes, name = span.name): ReadableSpan {
  return {
    name,
    kind: span.kind,
    spanContext: () => span.spanContext(),
    ...(span.parentSpanContext ? { parentSpanContext: span.parentSpanContext } : {}),
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes,
    links: span.links,
    events: span.events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** Where one id sits in the serialised request: its every occurrence (as span id and as parent). */
interface IdSlots {
  width: number;
  offsets: number[];
}

/**
 * One worker's ExportTraceServiceRequest, serialised once by the official ProtobufTraceSerializer,
 * its spans naming `sessionIds` (one per query). `next()` copies it and overwrites every trace and
 * span id with fresh random bytes (consistently: a parent id changes with its span's id), and every
 * tool call id with a fresh one, so each batch is a new set of spans in the same sessions, as an Ark
 * controller exporting successive queries would send. Ids are fixed-width fields, so the patch keeps
 * the encoding valid.
 */
export class BatchTemplate {
  private readonly template: Buffer;
  private readonly slots: IdSlots[] = [];
  /** Where each tool call id's text is, to write a fresh one of the same length. */
  private readonly toolIdOffsets: number[] = [];
  /** Per query, where its name-and-session suffix is (`fresh`), to write a new one per batch. */
  private readonly suffixOffsets: number[][] = [];
  private readonly randomBytes: number;

  /**
   * `fresh`: every batch is ten new queries, each with a query name and a session of its own (a
   * 12-hex-digit suffix on both, new per batch), as a controller running many distinct queries sends;
   * otherwise the queries of a worker's batches share its ten sessions and five query names.
   */
  constructor(sessionIds: readonly string[], options: { fresh?: boolean } = {}) {
    if (sessionIds.length !== QUERIES_PER_BATCH) throw new Error(`a batch needs ${QUERIES_PER_BATCH} session ids`);
    const { spans, queryOf, toolIds } = arkSpanShapes();
    const suffixes = sessionIds.map(() => randomBytes(SUFFIX_HEX / 2).toString('hex'));
    const batch = spans.map((span) => {
      const q = queryOf.get(span)!;
      if (!options.fresh) return withAttributes(span, { ...span.attributes, [SESSION_ATTRIBUTE]: sessionIds[q]! });
      const queryName = `${String(span.attributes['query.name'])}-${suffixes[q]}`;
      const renamed = span.name.startsWith('query.') ? `query.${queryName}` : span.name;
      return withAttributes(span, { ...span.attributes, [SESSION_ATTRIBUTE]: `${sessionIds[q]!}-${suffixes[q]}`, 'query.name': queryName }, renamed);
    });
    const serialized = ProtobufTraceSerializer.serializeRequest(batch);
    if (!serialized) throw new Error('ProtobufTraceSerializer produced nothing');
    this.template = Buffer.from(serialized);
    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    for (const traceId of traceIds) {
      this.addSlots(traceId, TRACE_ID_BYTES, spans.filter((s) => s.spanContext().traceId === traceId).length);
    }
    for (const span of spans) {
      const { spanId } = span.spanContext();
      this.addSlots(spanId, SPAN_ID_BYTES, 1 + spans.filter((s) => s.parentSpanContext?.spanId === spanId).length);
    }
    this.randomBytes = this.slots.reduce((total, slot) => total + slot.width, 0);
    for (const toolId of toolIds) {
      const at = this.template.indexOf(toolId, 0, 'ascii');
      if (at === -1 || this.template.indexOf(toolId, at + 1, 'ascii') !== -1)
        throw new Error(`tool call id ${toolId} is not in the serialised batch exactly once`);
      this.toolIdOffsets.push(at);
    }
    if (options.fresh) {
      for (const suffix of suffixes) {
        const offsets: number[] = [];
        for (let at = this.template.indexOf(suffix, 0, 'ascii'); at !== -1; at = this.template.indexOf(suffix, at + 1, 'ascii')) offsets.push(at);
        // Each span of the query names it twice (session and query name), its query span once more.
        if (offsets.length !== 2 * (SPANS_PER_BATCH / QUERIES_PER_BATCH) + 1) throw new Error(`suffix ${suffix} occurs ${offsets.length} times`);
        this.suffixOffsets.push(offsets);
      }
    }
  }

  get byteLength(): number {
    return this.template.length;
  }

  /** A new batch: the template with every id replaced by random bytes. */
  next(): Buffer {
    const batch = Buffer.from(this.template);
    const fresh = randomFillSync(Buffer.allocUnsafe(this.randomBytes));
    let from = 0;
    for (const slot of this.slots) {
      for (const offset of slot.offsets) fresh.copy(batch, offset, from, from + slot.width);
      from += slot.width;
    }
    for (const at of this.toolIdOffsets) batch.write(toolCallId(), at, 'ascii');
    for (const offsets of this.suffixOffsets) {
      const suffix = randomBytes(SUFFIX_HEX / 2).toString('hex');
      for (const at of offsets) batch.write(suffix, at, 'ascii');
    }
    return batch;
  }

  /** Finds the id's bytes in the template; the count proves no other field happens to hold them. */
  private addSlots(hexId: string, width: number, expected: number): void {
    const needle = Buffer.from(hexId, 'hex');
    if (needle.length !== width) throw new Error(`id ${hexId} is not ${width} bytes`);
    const offsets: number[] = [];
    for (let at = this.template.indexOf(needle); at !== -1; at = this.template.indexOf(needle, at + 1)) offsets.push(at);
    if (offsets.length !== expected) throw new Error(`id ${hexId} occurs ${offsets.length} times in the serialised batch, expected ${expected}`);
    this.slots.push({ width, offsets });
  }
}

/** The export answer's rejected span count (0 when the body is empty: full success), via the official deserializer. */
export function rejectedSpans(answer: Buffer): { rejected: number; message: string } {
  const response = ProtobufTraceSerializer.deserializeResponse(answer);
  return { rejected: Number(response.partialSuccess?.rejectedSpans ?? 0), message: response.partialSuccess?.errorMessage ?? '' };
}
