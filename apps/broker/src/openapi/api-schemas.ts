import type { ReferenceObject, SchemaObject } from '@nestjs/swagger';

type Schema = SchemaObject | ReferenceObject;

// The answers' JSON schemas, registered as OpenAPI components (openApiDocument). The JSON is made by
// presenters from database rows, not by DTO classes, so the schemas are written here once; the
// typed client (libs/client) is generated from them and test/openapi.test.ts checks real answers.

const ref = (name: string): ReferenceObject => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: 'string' | 'integer' | 'number' | 'boolean', extra: SchemaObject = {}): SchemaObject => ({ type, nullable: true, ...extra });
const strings: SchemaObject = { type: 'array', items: { type: 'string' } };
const anyJson: SchemaObject = {};
const object = (properties: Record<string, Schema>, optional: string[] = []): SchemaObject => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
});
const tokens = object({ input: nullable('integer'), output: nullable('integer'), total: nullable('integer') });
/** A page of a keyset-paginated list. */
const page = (item: string): SchemaObject =>
  object({ items: { type: 'array', items: ref(item) }, hasMore: { type: 'boolean' }, nextCursor: nullable('string') });
/** A list capped inside an aggregate: `truncated` when `total` is more than `items`. */
const capped = (item: Schema): SchemaObject => object({ items: { type: 'array', items: item }, total: { type: 'integer' }, truncated: { type: 'boolean' } });

export const API_SCHEMAS: Record<string, SchemaObject> = {
  ErrorBody: object({
    error: object({
      code: { type: 'string', description: 'docs/api.md#errors: lower case on /v2, upstream 0.1.69 codes on the root paths' },
      message: { type: 'string' },
      requestId: { type: 'string' },
    }),
  }),
  ArkEvent: object({
    id: { type: 'string', description: 'the global position, as a string' },
    tenantId: { type: 'string' },
    sessionId: { type: 'string' },
    sequence: { type: 'integer', description: '1, 2, 3… within the session, no gaps' },
    globalPosition: { type: 'integer' },
    type: { type: 'string', description: 'docs/events.md, e.g. tool.call.completed' },
    time: { type: 'string', format: 'date-time' },
    recordedAt: { type: 'string', format: 'date-time' },
    queryId: nullable('string'),
    queryName: nullable('string'),
    namespace: nullable('string'),
    userId: nullable('string'),
    traceId: nullable('string'),
    spanId: nullable('string'),
    parentSpanId: nullable('string'),
    source: { type: 'string', enum: ['otlp', 'operation-event', 'chunk', 'message', 'api'] },
    data: anyJson,
  }),
  ArkEventPage: page('ArkEvent'),
  AppendedEvents: object({
    items: {
      type: 'array',
      items: object({
        sessionId: { type: 'string' },
        sequence: { type: 'integer' },
        duplicate: { type: 'boolean', description: 'the dedupe key was already in the session: nothing was written' },
      }),
    },
  }),
  Session: object({
    sessionId: { type: 'string' },
    userId: nullable('string'),
    status: { type: 'string', enum: ['active', 'idle', 'error'] },
    firstActivityAt: { type: 'string', format: 'date-time' },
    lastActivityAt: { type: 'string', format: 'date-time' },
    eventCount: { type: 'integer' },
    lastSequence: { type: 'integer' },
    queryCount: { type: 'integer' },
    errorQueryCount: { type: 'integer' },
    hasErrors: { type: 'boolean' },
    namespaces: strings,
    agents: strings,
    teams: strings,
    models: strings,
    tools: strings,
    tokens,
  }),
  SessionPage: page('Session'),
  ToolCall: object({
    id: { type: 'string' },
    queryKey: { type: 'string' },
    queryId: nullable('string'),
    sessionId: nullable('string'),
    toolName: nullable('string'),
    toolType: nullable('string'),
    toolId: nullable('string'),
    status: { type: 'string' },
    parameters: anyJson,
    result: anyJson,
    error: anyJson,
    mcpSessionId: nullable('string'),
    traceId: nullable('string'),
    spanId: nullable('string'),
    parentSpanId: nullable('string'),
    startedAt: nullable('string', { format: 'date-time' }),
    endedAt: nullable('string', { format: 'date-time' }),
    durationMs: nullable('number'),
  }),
  ToolCallPage: page('ToolCall'),
  LlmCall: object({
    id: { type: 'string' },
    queryKey: { type: 'string' },
    model: nullable('string'),
    modelType: nullable('string'),
    status: { type: 'string' },
    error: anyJson,
    tokens,
    traceId: nullable('string'),
    spanId: nullable('string'),
    parentSpanId: nullable('string'),
    startedAt: nullable('string', { format: 'date-time' }),
    endedAt: nullable('string', { format: 'date-time' }),
    durationMs: nullable('number'),
    firstChunkAt: nullable('string', { format: 'date-time' }),
    timeToFirstTokenMs: nullable('number'),
  }),
  Query: object({
    queryKey: { type: 'string', description: 'the query within the session: namespace/name' },
    queryId: nullable('string', { description: 'the UID, once a source named it' }),
    queryName: nullable('string'),
    sessionId: { type: 'string' },
    namespace: nullable('string'),
    userId: nullable('string'),
    target: { ...object({ type: nullable('string'), name: nullable('string') }), nullable: true },
    agent: nullable('string'),
    phase: { type: 'string', description: 'pending, running, done, error, canceled or unknown' },
    input: anyJson,
    response: anyJson,
    error: anyJson,
    lastError: { ...object({ error: anyJson, at: { type: 'string', format: 'date-time' } }), nullable: true },
    startedAt: { type: 'string', format: 'date-time' },
    completedAt: nullable('string', { format: 'date-time' }),
    lastEventAt: { type: 'string', format: 'date-time' },
    durationMs: nullable('number'),
    tokens,
    eventCount: { type: 'integer' },
  }),
  QueryWithCalls: {
    allOf: [
      ref('Query'),
      object({
        toolCalls: capped(ref('ToolCall')),
        llmCalls: capped(ref('LlmCall')),
        chunks: object({
          count: { type: 'integer' },
          firstChunkAt: nullable('string', { format: 'date-time' }),
          lastChunkAt: nullable('string', { format: 'date-time' }),
          streamCompleted: { type: 'boolean' },
        }),
      }),
    ],
  },
  QueryWithCallsPage: page('QueryWithCalls'),
  QueryDetail: {
    allOf: [ref('QueryWithCalls'), object({ limits: object({ toolCalls: { type: 'integer' }, llmCalls: { type: 'integer' } }) })],
  },
  SessionMessage: object({
    position: { type: 'integer' },
    conversationId: nullable('string'),
    queryId: nullable('string'),
    message: anyJson,
    recordedAt: { type: 'string', format: 'date-time' },
  }),
  SessionMessagePage: page('SessionMessage'),
  PendingApproval: object({
    queryId: nullable('string'),
    taskId: nullable('string'),
    toolCalls: anyJson,
    requestedAt: { type: 'string', format: 'date-time' },
    sessionId: { type: 'string' },
    sequence: { type: 'integer' },
  }),
  SessionAggregate: object({
    session: ref('Session'),
    queries: object({
      items: { type: 'array', items: ref('QueryWithCalls') },
      total: { type: 'integer' },
      truncated: { type: 'boolean' },
      nextCursor: nullable('string'),
    }),
    messages: object({
      count: { type: 'integer' },
      items: { type: 'array', items: ref('SessionMessage') },
      truncated: { type: 'boolean' },
      nextCursor: nullable('string'),
    }),
    pendingApprovals: capped(ref('PendingApproval')),
    limits: { type: 'object', additionalProperties: { type: 'integer' } },
  }),
  SessionSnapshotMessage: object({
    type: { type: 'string', enum: ['snapshot'] },
    sequence: { type: 'integer', description: 'the session sequence the aggregate reflects; events follow from the next one' },
    aggregate: ref('SessionAggregate'),
  }),
  CompletionEventMessage: object({ type: { type: 'string', enum: ['event'] }, event: ref('ArkEvent') }),
  Retention: object({
    tenantId: { type: 'string' },
    messageTtlSeconds: { type: 'integer' },
    eventTtlSeconds: { type: 'integer' },
    sessionsTtlSeconds: { type: 'integer' },
    overrides: object({ messageTtlSeconds: nullable('integer'), eventTtlSeconds: nullable('integer'), sessionsTtlSeconds: nullable('integer') }),
  }),
  UpstreamBody: {
    type: 'object',
    description:
      "an answer of upstream ark-broker's wire API, shaped as upstream 0.1.69's (docs/upstream-compat.md); lists: `{items,total,hasMore,nextCursor}`",
    additionalProperties: true,
  },
};

/** An `application/json` answer of a registered schema. */
export const jsonAnswer = (schema: string, description: string) => ({ description, content: { 'application/json': { schema: ref(schema) } } });

/**
 * A `text/event-stream` answer: `retry:`, then messages of `id:` (the resume point) and one `data:`
 * line, heartbeat comments between (docs/api.md#watch-streams). Its schema is that of one message's
 * `data:` JSON, which is what SSE clients hand over.
 */
const SSE_DATA = "one message's `data:` (JSON; `[DONE]` ends chunk streams)";
export const sseAnswer = (description: string, data: Schema = anyJson) => ({
  description: `Server-Sent Events: ${description}`,
  content: { 'text/event-stream': { schema: '$ref' in data ? { allOf: [data], description: SSE_DATA } : { ...data, description: SSE_DATA } } },
});

/** A watchable collection's 200: its JSON page, or with `?watch=true` its SSE stream. */
export const watchableAnswer = (pageSchema: string, description: string, data: Schema) => ({
  description: `${description}; with \`watch=true\`, Server-Sent Events`,
  content: { ...jsonAnswer(pageSchema, description).content, ...sseAnswer(description, data).content },
});

export const schemaRef = ref;
