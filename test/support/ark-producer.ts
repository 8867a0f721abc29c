/**
 * A simulation of what Ark (upstream commit f6dbda34) sends the broker while one agent query runs:
 * the controller and the completions executor export spans, post operation events, stream chunks and
 * save the conversation's messages. Each source can be sent on its own, so a test can deliver them in
 * any order. The shapes follow the Ark sources named at each builder; the code and the payloads'
 * contents are the project's own.
 *
 * The query: the controller dispatches it to the executor, which runs the agent: an LLM call that
 * asks for one tool call, the tool call, an LLM call that answers; the executor then saves the
 * messages to memory, sends the final chunk and completes the stream; the controller completes.
 */
import { ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';

export interface ArkToolCallPlan {
  /** The LLM's tool call id (`call.ID`). */
  id: string;
  name: string;
  /** `ToolRegistry.GetToolType`: `mcp`, `custom`, `builtin`, … */
  type: string;
  /** The call's arguments as the LLM wrote them (a JSON string). */
  arguments: string;
  /** The tool's result content. */
  result: string;
}

export interface ArkLlmUsage {
  prompt: number;
  completion: number;
}

export interface ArkQueryPlan {
  /** `metadata.uid` of the Query resource. */
  uid: string;
  /** `metadata.name`. */
  name: string;
  namespace: string;
  /** `spec.sessionId`; without one Ark uses the UID as the session. */
  sessionId?: string;
  /** `spec.conversationId`: the memory conversation the query continues. */
  conversationId: string;
  agent: string;
  /** The model's `spec.model` value (`Model.Model`), e.g. `gpt-4o`. */
  model: string;
  /** The model's type (`Model.Type`), e.g. `openai`. */
  modelType: string;
  /** The user's input (`spec.input`). */
  input: string;
  /** The agent's final answer. */
  response: string;
  toolCall: ArkToolCallPlan;
  /** Usage of the LLM call that asks for the tool, then of the one that answers. */
  usage: [ArkLlmUsage, ArkLlmUsage];
  /** When the controller starts the query (ms since the epoch); the rest follows at fixed offsets. */
  startedAt: number;
}

/** `broker.Event` (ark/internal/eventing/broker/emitter.go): the body of `POST /events`. */
export interface ArkOperationEvent {
  timestamp: string;
  eventType: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** Every value a string (`map[string]string` in the operation tracker). */
  data: Record<string, string>;
}

/** Milliseconds after `startedAt` at which each step happens. */
const AT = {
  queryStart: 0, // controller: QueryExecutionStart, dispatch span
  executorQuery: 5, // executor: query and target spans
  memoryGet: 6,
  memoryGot: 8,
  agentStart: 10,
  llm1Start: 20,
  llm1End: 100,
  toolStart: 110,
  toolEnd: 230,
  llm2Start: 240,
  llm2End: 400,
  agentEnd: 410,
  memoryAdd: 415,
  memoryAdded: 420,
  streamFinal: 425,
  executorEnd: 430,
  queryEnd: 450, // controller: QueryExecutionComplete
} as const;

/** Spans start and end this far into their step (ms); a `…Start` operation event follows its span's start, a `…Complete` precedes its end (µs). */
const SPAN_OFFSET_MS = 0.1;
const START_AFTER_SPAN_MICROS = 237;
const COMPLETE_BEFORE_END_MICROS = 413;

/** A span exporter that remembers failed exports, so a test knows every export got a 2xx. */
class CheckedExporter implements SpanExporter {
  readonly failures: string[] = [];
  constructor(private readonly inner: SpanExporter) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.failures.push(String(result.error ?? 'export failed'));
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

const hex = (bytes: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(bytes)))
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');

/** The OpenAI chunks of one streamed LLM call, as the provider passes them on (provider_openai.go). */
type Chunk = Record<string, unknown>;

export class ArkQueryProducer {
  /** The query's trace (the controller's dispatch span is its root) and the spans of it that the broker never gets. */
  readonly traceId = hex(16);
  private readonly dispatchSpanId = hex(8);
  private readonly serverSpanId = hex(8);

  constructor(
    private readonly brokerUrl: string,
    readonly plan: ArkQueryPlan,
  ) {}

  /** The session Ark files everything under: `spec.sessionId`, else the query UID. */
  get sessionId(): string {
    return this.plan.sessionId ?? this.plan.uid;
  }

  /**
   * An operation event's `timestamp` as Go's RFC3339Nano writes it, `offsetMicros` from its step:
   * the executor starts a span, then emits its `…Start` event, and emits `…Complete` before the
   * span ends (model_generic.go, tools.go), microseconds apart.
   */
  private nanoTimestamp(step: keyof typeof AT, offsetMicros: number): string {
    const micros = Math.round((this.plan.startedAt + AT[step]) * 1000 + offsetMicros);
    const ms = Math.floor(micros / 1000);
    return new Date(ms).toISOString().replace('Z', `${String(micros - ms * 1000).padStart(3, '0')}000Z`);
  }

  /** A span's start or end: SPAN_OFFSET_MS into its step (the SDK keeps the fraction, in nanoseconds). */
  private time(step: keyof typeof AT): number {
    return this.plan.startedAt + AT[step] + SPAN_OFFSET_MS;
  }

  private get totalUsage() {
    const [a, b] = this.plan.usage;
    return { prompt: a.prompt + b.prompt, completion: a.completion + b.completion, total: a.prompt + a.completion + b.prompt + b.completion };
  }

  // ── operation events ──────────────────────────────────────────────────────────────────────────

  /**
   * The `POST /events` bodies, in the order Ark emits them. Built as the operation tracker
   * (ark/internal/eventing/recorder/operations/operation_tracker.go) and the broker emitter
   * (ark/internal/eventing/broker/emitter.go) do: `data` = the query details (`queryId` = UID,
   * `queryName`, `queryNamespace`, `sessionId`, `conversationId` from the spec), the operation's
   * own fields, `durationMs` on Complete ("%.2f"), `message` and `timestamp`; `reason` =
   * `<Operation>Start|Complete|Error`; `message` ends "(timestamp: …)". The operations and their
   * fields: QueryExecution (ark/internal/controller/query_controller.go; Complete adds `targetType`,
   * `agent`, `input` cut to 48 characters), MemoryGetMessages / MemoryAddMessages
   * (ark/executors/completions/memory_http.go), AgentExecution `agent` (agent.go), LLMCall `model`,
   * `modelType` (model_generic.go), ToolCall `toolName`, `toolType`, `toolId`, `parameters`
   * (tools.go; the result is not in the event, only in the span).
   */
  operationEventBodies(): ArkOperationEvent[] {
    const p = this.plan;
    const query = {
      queryId: p.uid,
      queryName: p.name,
      queryNamespace: p.namespace,
      sessionId: this.sessionId,
      conversationId: p.conversationId,
    };
    const event = (
      reason: string,
      step: keyof typeof AT,
      message: string,
      fields: Record<string, string> = {},
      startedAt?: keyof typeof AT,
    ): ArkOperationEvent => {
      const ending = startedAt !== undefined;
      const timestamp = this.nanoTimestamp(step, SPAN_OFFSET_MS * 1000 + (ending ? -COMPLETE_BEFORE_END_MICROS : START_AFTER_SPAN_MICROS));
      const durationMs: Record<string, string> = ending
        ? { durationMs: (AT[step] - AT[startedAt] - (COMPLETE_BEFORE_END_MICROS + START_AFTER_SPAN_MICROS) / 1000).toFixed(2) }
        : {};
      return {
        timestamp,
        eventType: 'Normal',
        reason,
        message: `${message} (timestamp: ${timestamp})`,
        data: { ...query, ...fields, ...durationMs, message, timestamp },
      };
    };
    const agent = { agent: p.agent };
    const model = { model: p.model, modelType: p.modelType };
    const tool = { toolName: p.toolCall.name, toolType: p.toolCall.type, toolId: p.toolCall.id, parameters: p.toolCall.arguments };
    const input = p.input.length > 48 ? `${p.input.slice(0, 45)}...` : p.input;
    const getResult = 'Memory get messages completed successfully';
    const addResult = 'Memory add messages completed successfully';
    return [
      event('QueryExecutionStart', 'queryStart', `Executing query ${p.name}`),
      event('MemoryGetMessagesStart', 'memoryGet', 'Getting messages from memory'),
      event('MemoryGetMessagesComplete', 'memoryGot', getResult, { messages: '0', result: getResult }, 'memoryGet'),
      event('AgentExecutionStart', 'agentStart', `Executing agent ${p.namespace}/${p.agent}`, agent),
      event('LLMCallStart', 'llm1Start', `Calling model ${p.model}`, model),
      event('LLMCallComplete', 'llm1End', 'Model call completed successfully', model, 'llm1Start'),
      event('ToolCallStart', 'toolStart', `Executing tool ${p.toolCall.name}`, tool),
      event('ToolCallComplete', 'toolEnd', 'Tool execution completed successfully', tool, 'toolStart'),
      event('LLMCallStart', 'llm2Start', `Calling model ${p.model}`, model),
      event('LLMCallComplete', 'llm2End', 'Model call completed successfully', model, 'llm2Start'),
      event('AgentExecutionComplete', 'agentEnd', 'Agent execution completed successfully', agent, 'agentStart'),
      event('MemoryAddMessagesStart', 'memoryAdd', 'Adding messages to memory'),
      event(
        'MemoryAddMessagesComplete',
        'memoryAdded',
        addResult,
        { messages: String(this.messagesBody().messages.length), conversationId: p.conversationId, result: addResult },
        'memoryAdd',
      ),
      event('QueryExecutionComplete', 'queryEnd', 'Query execution completed', { targetType: 'agent', agent: p.agent, input }, 'queryStart'),
    ];
  }

  /** POSTs the operation events (those `only` keeps), one request each, in order; throws unless each is answered 201, as Ark expects. */
  async operationEvents(only: (reason: string) => boolean = () => true): Promise<void> {
    for (const body of this.operationEventBodies().filter((b) => only(b.reason))) {
      const res = await fetch(`${this.brokerUrl}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`POST /events ${body.reason}: ${res.status} ${await res.text()}`);
    }
  }

  // ── spans ─────────────────────────────────────────────────────────────────────────────────────

  /**
   * Exports the query's spans with the OpenTelemetry SDK's OTLP/protobuf exporter to the broker's
   * `/v1/traces`, as Ark's two processes do (ark/internal/telemetry/config/provider.go: service
   * `ark-controller`, the executor's chart sets `ark-completions`; tracer `ark/controller`; the
   * broker gets only spans carrying `query.namespace`, routing/namespace_processor.go, so the
   * otelhttp `a2a.send` / `executor.completions` spans between the two are not sent).
   *
   * - controller (query_controller.go `executeQueryAsync`): `query.<name>.dispatch`.
   * - executor (handler.go `setupExecution`, otel/query_recorder.go): `query.<name>` (`query.phase`,
   *   `service.name`=ark, `component`, later `input.value`, `output.value`, token usage as
   *   `gen_ai.usage.*_tokens` and `tokens.*`), child `target.<agent>` (`target.type`,
   *   `target.name`, `query.input`/`query.output`); child `agent.<ns>/<agent>` (otel/agent_recorder.go);
   *   its children `llm.<model>` (otel/model_recorder.go: `llm.model.name`, `llm.model.type`,
   *   `llm.input_messages.*`, `llm.output_messages.*`, `gen_ai.usage.*`) and `tool.<name>`
   *   (otel/tool_recorder.go: `tool.name`, `tool.type`, `tool.id`, `tool.input`, `tool.output`).
   *
   * Every span also carries what otel/tracer.go adds from the query in context: `query.name`,
   * `query.namespace`, `ark.session.id`, and `conversation.id` only when the query's *status* has
   * one, which a query running for the first time does not: so none here. No span carries the UID.
   * Spans of kind chain/agent/llm/tool carry `openinference.span.kind` and are exported as INTERNAL.
   * Success is status OK. Each process's spans go in one batch, in the order they ended.
   */
  async spans(which: 'all' | 'executor' | 'controller' = 'all'): Promise<void> {
    const p = this.plan;
    const queryAttributes = { 'query.name': p.name, 'query.namespace': p.namespace, 'ark.session.id': this.sessionId };
    const run = async (service: string, ids: IdGenerator | undefined, build: (tracer: Tracer) => void) => {
      const exporter = new CheckedExporter(new OTLPTraceExporter({ url: `${this.brokerUrl}/v1/traces` }));
      const provider = new TracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 60_000 })],
        ...(ids ? { idGenerator: ids } : {}),
      });
      build(provider.getTracer('ark/controller'));
      await provider.forceFlush();
      await provider.shutdown();
      if (exporter.failures.length > 0) throw new Error(`OTLP export from ${service} failed: ${exporter.failures.join('; ')}`);
    };
    if (which !== 'controller') {
      // The executor's query span is a child of its otelhttp server span (not sent to the broker).
      const underServer = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: this.traceId,
        spanId: this.serverSpanId,
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
      });
      await run('ark-completions', undefined, (tracer) => this.buildExecutorSpans(tracer, underServer, queryAttributes));
    }
    if (which !== 'executor') {
      // The dispatch span is the trace's root; its ids are fixed so the executor's spans share its trace.
      const ids: IdGenerator = { generateTraceId: () => this.traceId, generateSpanId: () => this.dispatchSpanId };
      await run('ark-controller', ids, (tracer) => {
        const dispatch = tracer.startSpan(
          `query.${p.name}.dispatch`,
          { startTime: this.time('queryStart'), attributes: { 'openinference.span.kind': 'CHAIN', ...queryAttributes } },
          ROOT_CONTEXT,
        );
        dispatch.setAttributes({
          'target.type': 'agent',
          'target.name': p.agent,
          'dispatch.address': `http://ark-completions.${p.namespace}.svc.cluster.local:9090`,
        });
        dispatch.setStatus({ code: SpanStatusCode.OK });
        dispatch.end(this.time('queryEnd'));
      });
    }
  }

  private buildExecutorSpans(tracer: Tracer, parent: Context, queryAttributes: Record<string, string>): void {
    const p = this.plan;
    const start = (name: string, step: keyof typeof AT, attributes: Record<string, string | number>, under: Context): [Span, Context] => {
      const span = tracer.startSpan(name, { startTime: this.time(step), attributes: { ...attributes, ...queryAttributes } }, under);
      return [span, trace.setSpan(under, span)];
    };
    const ok = (span: Span, step: keyof typeof AT) => {
      span.setStatus({ code: SpanStatusCode.OK });
      span.end(this.time(step));
    };
    const usage = (u: ArkLlmUsage) => ({
      'gen_ai.usage.input_tokens': u.prompt,
      'gen_ai.usage.output_tokens': u.completion,
      'gen_ai.usage.total_tokens': u.prompt + u.completion,
    });

    const [query, inQuery] = start(
      `query.${p.name}`,
      'executorQuery',
      { 'openinference.span.kind': 'CHAIN', 'query.phase': 'execute', 'service.name': 'ark', component: 'ark-controller' },
      parent,
    );
    query.setAttribute('input.value', p.input);
    const [target, inTarget] = start(`target.${p.agent}`, 'executorQuery', { 'target.type': 'agent', 'target.name': p.agent, type: 'agent' }, inQuery);
    target.setAttribute('query.input', p.input);
    const [agent, inAgent] = start(
      `agent.${p.namespace}/${p.agent}`,
      'agentStart',
      { 'openinference.span.kind': 'AGENT', 'agent.name': p.agent, 'query.namespace': p.namespace, component: 'agent', type: 'agent', name: p.agent },
      inTarget,
    );

    const system = { role: 'system', content: `You are ${p.agent}.` };
    const user = { role: 'user', content: p.input };
    const llm = (step: keyof typeof AT) =>
      start(
        `llm.${p.model}`,
        step,
        {
          'openinference.span.kind': 'LLM',
          'llm.model.name': p.model,
          'llm.model.type': p.modelType,
          component: 'model',
          type: 'generation',
          model: p.model,
        },
        inAgent,
      )[0];
    // RecordModelDetails sets `type` again, to the model type.
    const details = { 'llm.model.name': p.model, 'llm.model.type': p.modelType, model: p.model, type: p.modelType };
    const messageAttributes = (prefix: string, messages: Record<string, string>[]) =>
      Object.fromEntries(messages.flatMap((m, i) => Object.entries(m).map(([k, v]) => [`${prefix}.${i}.message.${k}`, v])));
    const toolCallAttributes = (prefix: string) => ({
      [`${prefix}.tool_calls.0.id`]: p.toolCall.id,
      [`${prefix}.tool_calls.0.type`]: 'function',
      [`${prefix}.tool_calls.0.function.name`]: p.toolCall.name,
      [`${prefix}.tool_calls.0.function.arguments`]: p.toolCall.arguments,
    });

    const llm1 = llm('llm1Start');
    llm1.setAttributes({ ...messageAttributes('llm.input_messages', [system, user]), ...details });
    llm1.setAttributes({ 'llm.output_messages.0.message.role': 'assistant', ...toolCallAttributes('llm.output_messages.0.message'), ...usage(p.usage[0]) });
    ok(llm1, 'llm1End');

    const [tool] = start(
      `tool.${p.toolCall.name}`,
      'toolStart',
      {
        'openinference.span.kind': 'TOOL',
        'tool.name': p.toolCall.name,
        'tool.type': p.toolCall.type,
        'tool.id': p.toolCall.id,
        'tool.input': p.toolCall.arguments,
        component: 'tool',
        type: 'tool',
        name: p.toolCall.name,
      },
      inAgent,
    );
    tool.setAttribute('tool.output', p.toolCall.result);
    ok(tool, 'toolEnd');

    const llm2 = llm('llm2Start');
    llm2.setAttributes({
      ...messageAttributes('llm.input_messages', [system, user]),
      'llm.input_messages.2.message.role': 'assistant',
      ...toolCallAttributes('llm.input_messages.2.message'),
      'llm.input_messages.3.message.role': 'tool',
      'llm.input_messages.3.message.content': p.toolCall.result,
      'llm.input_messages.3.message.tool_call_id': p.toolCall.id,
      ...details,
    });
    llm2.setAttributes({ 'llm.output_messages.0.message.role': 'assistant', 'llm.output_messages.0.message.content': p.response, ...usage(p.usage[1]) });
    ok(llm2, 'llm2End');

    ok(agent, 'agentEnd');
    target.setAttribute('query.output', p.response);
    query.setAttribute('output.value', p.response);
    ok(target, 'executorEnd');
    const total = this.totalUsage;
    query.setAttributes({
      'gen_ai.usage.input_tokens': total.prompt,
      'gen_ai.usage.output_tokens': total.completion,
      'gen_ai.usage.total_tokens': total.total,
      'tokens.prompt': total.prompt,
      'tokens.completion': total.completion,
      'tokens.total': total.total,
    });
    ok(query, 'executorEnd');
  }

  // ── chunks ────────────────────────────────────────────────────────────────────────────────────

  /**
   * The NDJSON lines of `POST /stream/<query name>` (ark/executors/completions/streaming.go
   * `HTTPEventStream`): every OpenAI `chat.completion.chunk` of both LLM calls as the provider
   * streams them (provider_openai.go: the deltas, a usage chunk, and for tool calls a final chunk
   * with the accumulated calls, `SendFinalToolCallChunk`), each wrapped with `ark` metadata
   * (`buildMetadata`: `query` = the query UID, `session`, `agent`, `model`; `target` and `team` are
   * never set for an agent query); then the handler's final chunk (handler.go `finalizeStream`:
   * id `chatcmpl-final`, model = the query name, empty content, `ark.completedQuery` = the Query
   * with its status, and no agent or model).
   */
  chunkLines(): Chunk[] {
    const p = this.plan;
    const created = Math.floor(this.time('llm1Start') / 1000);
    const llmArk = { query: p.uid, session: this.sessionId, agent: p.agent, model: p.model };
    const chunk = (id: string, delta: Record<string, unknown>, finish: string | null = null): Chunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: p.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
      ark: llmArk,
    });
    const usage = (id: string, u: ArkLlmUsage): Chunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: p.model,
      choices: [],
      usage: { prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion },
      ark: llmArk,
    });
    const first = `chatcmpl-${p.uid.slice(0, 8)}-1`;
    const second = `chatcmpl-${p.uid.slice(0, 8)}-2`;
    const half = Math.ceil(p.toolCall.arguments.length / 2);
    const fullToolCall = { index: 0, id: p.toolCall.id, type: 'function', function: { name: p.toolCall.name, arguments: p.toolCall.arguments } };
    const words = p.response.split(/(?<= )/);
    const total = this.totalUsage;
    return [
      chunk(first, { role: 'assistant', tool_calls: [{ index: 0, id: p.toolCall.id, type: 'function', function: { name: p.toolCall.name, arguments: '' } }] }),
      chunk(first, { tool_calls: [{ index: 0, function: { arguments: p.toolCall.arguments.slice(0, half) } }] }),
      chunk(first, { tool_calls: [{ index: 0, function: { arguments: p.toolCall.arguments.slice(half) } }] }),
      chunk(first, {}, 'tool_calls'),
      usage(first, p.usage[0]),
      chunk(first, { tool_calls: [fullToolCall] }, 'tool_calls'),
      chunk(second, { role: 'assistant', content: '' }),
      ...words.map((w) => chunk(second, { content: w })),
      chunk(second, {}, 'stop'),
      usage(second, p.usage[1]),
      {
        id: 'chatcmpl-final',
        object: 'chat.completion.chunk',
        created: Math.floor(this.time('streamFinal') / 1000),
        model: p.name,
        choices: [{ index: 0, delta: { content: '' }, finish_reason: null }],
        ark: {
          query: p.uid,
          session: this.sessionId,
          completedQuery: {
            metadata: { name: p.name, namespace: p.namespace, uid: p.uid },
            spec: {
              input: p.input,
              target: { type: 'agent', name: p.agent },
              ...(p.sessionId ? { sessionId: p.sessionId } : {}),
              conversationId: p.conversationId,
            },
            status: {
              phase: 'done',
              tokenUsage: { promptTokens: total.prompt, completionTokens: total.completion, totalTokens: total.total },
              conversationId: p.conversationId,
              response: { target: { type: 'agent', name: p.agent }, content: p.response, phase: 'done' },
            },
          },
        },
      },
    ];
  }

  /** Streams the chunk lines in one `POST /stream/<name>` (NDJSON), then `POST /stream/<name>/complete` with `{}`; throws unless both get 200/202, as Ark expects. */
  async chunks(): Promise<void> {
    const path = `${this.brokerUrl}/stream/${encodeURIComponent(this.plan.name)}`;
    const body = this.chunkLines()
      .map((c) => `${JSON.stringify(c)}\n`)
      .join('');
    const upload = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    if (upload.status !== 200 && upload.status !== 202) throw new Error(`POST /stream: ${upload.status} ${await upload.text()}`);
    const complete = await fetch(`${path}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    if (complete.status !== 200 && complete.status !== 202) throw new Error(`POST /stream/complete: ${complete.status} ${await complete.text()}`);
  }

  // ── messages ──────────────────────────────────────────────────────────────────────────────────

  /**
   * The `POST /messages` body of the memory client (ark/executors/completions/memory_http.go
   * `AddMessages`, memory.go `MessagesRequest`): `conversation_id`, `query_id` = the query's
   * *name* (handler.go `saveFinalMessagesToMemory` passes `state.query.Name`), `messages` = the
   * input then the agent's new messages (the assistant's tool call, the tool's result, the
   * answer); `ttl_seconds` only when the query has a TTL (none here).
   */
  messagesBody(): { conversation_id: string; query_id: string; messages: Record<string, unknown>[] } {
    const p = this.plan;
    return {
      conversation_id: p.conversationId,
      query_id: p.name,
      messages: [
        { role: 'user', content: p.input },
        {
          role: 'assistant',
          name: p.agent,
          tool_calls: [{ id: p.toolCall.id, type: 'function', function: { name: p.toolCall.name, arguments: p.toolCall.arguments } }],
        },
        { role: 'tool', content: p.toolCall.result, tool_call_id: p.toolCall.id },
        { role: 'assistant', name: p.agent, content: p.response },
      ],
    };
  }

  /** POSTs the messages; throws unless 2xx, as Ark's memory client does. */
  async messages(): Promise<void> {
    const res = await fetch(`${this.brokerUrl}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'ark-memory-client/1.0' },
      body: JSON.stringify(this.messagesBody()),
    });
    if (res.status < 200 || res.status >= 300) throw new Error(`POST /messages: ${res.status} ${await res.text()}`);
  }

  /**
   * Everything, in the order Ark delivers a short query: the controller's start event, the
   * executor's events, chunks and messages as they happen (the chunk upload stays open through the
   * run and completes at the end), the executor's span batch when its processor flushes, then the
   * controller's completion event and its span.
   */
  async asArkDelivers(): Promise<void> {
    await this.operationEvents((r) => r === 'QueryExecutionStart');
    await this.operationEvents((r) => r !== 'QueryExecutionStart' && r !== 'QueryExecutionComplete');
    await this.messages();
    await this.chunks();
    await this.spans('executor');
    await this.operationEvents((r) => r === 'QueryExecutionComplete');
    await this.spans('controller');
  }
}

/** A plan with distinct ids per `key`, the rest defaults; `overrides` replaces any field. */
export function arkQueryPlan(key: string, overrides: Partial<ArkQueryPlan> = {}): ArkQueryPlan {
  return {
    uid: crypto.randomUUID(),
    name: `weather-${key}`,
    namespace: 'default',
    sessionId: `session-${key}`,
    conversationId: crypto.randomUUID(),
    agent: 'weather-agent',
    model: 'gpt-4o',
    modelType: 'openai',
    input: 'What is the weather in Paris today?',
    response: 'It is sunny in Paris, 24 degrees.',
    toolCall: { id: `call_${key.replace(/\W/g, '')}1`, name: 'get-weather', type: 'mcp', arguments: '{"city":"Paris"}', result: 'sunny, 24°C' },
    usage: [
      { prompt: 120, completion: 20 },
      { prompt: 180, completion: 30 },
    ],
    startedAt: Date.now() - 5_000,
    ...overrides,
  };
}
