import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { brokerErrorOf } from './errors.js';
import { paginate, type Page } from './pages.js';
import type {
  AppendedEvents,
  ArkEvent,
  CompletionMessage,
  CompletionQuery,
  FeedQuery,
  OperationEvent,
  paths,
  ProducerEvent,
  QueryDetail,
  QueryWithCalls,
  Retention,
  RetentionUpdate,
  Session,
  SessionAggregate,
  SessionEventsQuery,
  SessionListQuery,
  SessionMessage,
  SessionSnapshotMessage,
  ToolCall,
  ToolCallQuery,
} from './types.js';
import { watchStream, type WatchMessage, type WatchOptions } from './watch.js';

/** A token, or a function asked for one before every request (so a viewer can refresh it). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export interface BrokerClientOptions {
  /** The broker's base URL, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  /** A JWT (AUTH_MODE=jwt) or an API key, sent as `Authorization: Bearer <token>`. */
  token?: TokenSource;
  /** Headers sent on every request (e.g. `X-Request-ID`). */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/** Every route, typed from the OpenAPI document: `client.api.GET('/v2/sessions', { params: { query } })`. */
export type BrokerApi = Client<paths, 'application/json'>;

/** The body types of `/stream/:query` answers. */
export interface ChunkUploadResult {
  status: 'stream_processed';
  query: string;
  chunks_received: number;
  skipped_lines?: number;
}

/**
 * A typed client of the Ark Broker: the native `/v2` API with cursor iteration and resumable watches,
 * the producer helpers (events, chunks, OTLP), and `api`, a typed call for every route (openapi-fetch
 * over the generated types). Non-2xx answers throw BrokerError subclasses (errors.ts). Uses only
 * `fetch` and web streams, so it runs in browsers as in Node.
 */
export class BrokerClient {
  readonly api: BrokerApi;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: BrokerClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.api = createClient<paths, 'application/json'>({
      baseUrl: this.baseUrl,
      fetch: (request) => this.fetchImpl(request),
      // The broker reads list parameters (`types`) comma-separated.
      querySerializer: { array: { style: 'form', explode: false } },
    });
    const authAndErrors: Middleware = {
      onRequest: async ({ request }) => {
        for (const [name, value] of Object.entries(await this.headers())) request.headers.set(name, value);
        return request;
      },
      onResponse: async ({ response }) => {
        if (!response.ok) throw await brokerErrorOf(response);
        return response;
      },
    };
    this.api.use(authAndErrors);
  }

  // ---- native sessions API -------------------------------------------------------------------

  /** One page of sessions, newest activity first. */
  async listSessions(query: SessionListQuery = {}): Promise<Page<Session>> {
    return dataOf(await this.api.GET('/v2/sessions', { params: { query } }));
  }

  /** Every session matching the filters, page after page. */
  sessions(query: Omit<SessionListQuery, 'cursor'> = {}): AsyncGenerator<Session, void, undefined> {
    return paginate((cursor) => this.listSessions({ ...query, cursor }));
  }

  /** The session aggregate: queries → tool calls, LLM calls, chunk summaries; messages; pending approvals. */
  async getSession(sessionId: string): Promise<SessionAggregate> {
    return dataOf(await this.api.GET('/v2/sessions/{sessionId}', { params: { path: { sessionId } } }));
  }

  /** The aggregate as one snapshot message, then the session's events as they are appended (resumed by sequence). */
  watchSession(sessionId: string, options: WatchOptions = {}): AsyncGenerator<WatchMessage<SessionSnapshotMessage | ArkEvent>, void, undefined> {
    return this.watch(`/v2/sessions/${encodeURIComponent(sessionId)}`, {}, options);
  }

  /** A session's queries newest first, each with its calls; start from the aggregate's `queries.nextCursor` for older ones. */
  async listSessionQueries(sessionId: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<QueryWithCalls>> {
    return dataOf(await this.api.GET('/v2/sessions/{sessionId}/queries', { params: { path: { sessionId }, query } }));
  }

  /** Every query of a session, newest first. */
  sessionQueries(sessionId: string, query: { limit?: number } = {}): AsyncGenerator<QueryWithCalls, void, undefined> {
    return paginate((cursor) => this.listSessionQueries(sessionId, { ...query, cursor }));
  }

  /** A session's messages newest first. */
  async listSessionMessages(sessionId: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<SessionMessage>> {
    return dataOf(await this.api.GET('/v2/sessions/{sessionId}/messages', { params: { path: { sessionId }, query } }));
  }

  /** Every message of a session, newest first. */
  sessionMessages(sessionId: string, query: { limit?: number } = {}): AsyncGenerator<SessionMessage, void, undefined> {
    return paginate((cursor) => this.listSessionMessages(sessionId, { ...query, cursor }));
  }

  // ---- events --------------------------------------------------------------------------------

  /** One page of a session's events in sequence order (`after` a sequence). */
  async listSessionEvents(sessionId: string, query: SessionEventsQuery = {}): Promise<Page<ArkEvent>> {
    return dataOf(await this.api.GET('/v2/sessions/{sessionId}/events', { params: { path: { sessionId }, query } }));
  }

  /** Every stored event of a session, in sequence order. */
  sessionEvents(sessionId: string, query: Omit<SessionEventsQuery, 'after'> & { after?: number } = {}): AsyncGenerator<ArkEvent, void, undefined> {
    return paginate((cursor) => this.listSessionEvents(sessionId, { ...query, after: cursor === undefined ? query.after : Number(cursor) }));
  }

  /** A session's events from its first (or `after` a sequence, or `lastEventId`), then live; resumes by sequence. */
  watchSessionEvents(sessionId: string, options: WatchOptions & { after?: number } = {}): AsyncGenerator<WatchMessage<ArkEvent>, void, undefined> {
    const query: Record<string, string> = options.after === undefined ? {} : { after: String(options.after) };
    return this.watch(`/v2/sessions/${encodeURIComponent(sessionId)}/events`, query, options);
  }

  /** One page of the caller's gap-free feed (`after` a `tx:pos` cursor). */
  async listFeed(query: FeedQuery = {}): Promise<Page<ArkEvent>> {
    return dataOf(await this.api.GET('/v2/events', { params: { query } }));
  }

  /** Every stored event of the caller's feed, in feed order. */
  feed(query: Omit<FeedQuery, 'after'> & { after?: string } = {}): AsyncGenerator<ArkEvent, void, undefined> {
    return paginate(async (cursor) => {
      const page = await this.listFeed({ ...query, after: cursor ?? query.after });
      return { ...page, nextCursor: page.hasMore ? page.nextCursor : null };
    });
  }

  /** The caller's feed from now (or after `lastEventId`, a `tx:pos`; `0:0` replays everything), live; resumes by cursor. */
  watchFeed(options: WatchOptions = {}): AsyncGenerator<WatchMessage<ArkEvent>, void, undefined> {
    return this.watch('/v2/events', {}, options);
  }

  /** Appends producer events (one batch, all or none); answers their sessions and sequences once committed. */
  async appendEvents(events: ProducerEvent | ProducerEvent[]): Promise<AppendedEvents> {
    return dataOf(await this.api.POST('/v2/events', { body: (Array.isArray(events) ? events : [events]) as never }));
  }

  // ---- queries and tool calls ----------------------------------------------------------------

  /** One query (by UID, name or key) with its tool calls, LLM calls and chunk summary. */
  async getQuery(queryId: string): Promise<QueryDetail> {
    return dataOf(await this.api.GET('/v2/queries/{queryId}', { params: { path: { queryId } } }));
  }

  /**
   * A query's completion: its chunks and other ark events, live while it runs or replayed after
   * (`replay: 'realtime'` at the recorded pace); ends after `[DONE]`.
   */
  completion(queryId: string, query: CompletionQuery = {}, options: WatchOptions = {}): AsyncGenerator<WatchMessage<CompletionMessage>, void, undefined> {
    return this.watch(`/v2/queries/${encodeURIComponent(queryId)}/completion`, stringValues(query), options);
  }

  /** One page of tool calls by session, query, MCP session id or tool name (oldest first). */
  async listToolCalls(query: ToolCallQuery = {}): Promise<Page<ToolCall>> {
    return dataOf(await this.api.GET('/v2/tool-calls', { params: { query } }));
  }

  /** Every tool call matching the filters, oldest first. */
  toolCalls(query: Omit<ToolCallQuery, 'cursor'> = {}): AsyncGenerator<ToolCall, void, undefined> {
    return paginate((cursor) => this.listToolCalls({ ...query, cursor }));
  }

  // ---- retention -----------------------------------------------------------------------------

  async getRetention(): Promise<Retention> {
    return dataOf(await this.api.GET('/v2/retention'));
  }

  /** Sets the tenant's own TTLs (admin); null or absent: the broker's setting. */
  async setRetention(update: RetentionUpdate): Promise<Retention> {
    return dataOf(await this.api.PUT('/v2/retention', { body: update }));
  }

  // ---- producers (upstream wire API) ---------------------------------------------------------

  /** Posts one operation event as Ark's event sender does (`POST /events`, 201 once committed). */
  async postOperationEvent(event: OperationEvent): Promise<void> {
    await this.api.POST('/events', { body: event });
  }

  /**
   * Uploads LLM chunks for a query as NDJSON (`POST /stream/:query`); answered once every line is
   * committed. An array goes as one body; an async iterable is streamed as one long request (Node, or
   * a browser over HTTP/2). `idempotencyKey`: resending the same body with it stores nothing new.
   */
  async uploadChunks(query: string, chunks: Iterable<unknown> | AsyncIterable<unknown>, options: { idempotencyKey?: string } = {}): Promise<ChunkUploadResult> {
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    const body: string | ReadableStream<Uint8Array> =
      Symbol.asyncIterator in chunks ? ndjsonStream(chunks) : [...chunks].map((chunk) => `${JSON.stringify(chunk)}\n`).join('');
    const response = await this.send(`/stream/${encodeURIComponent(query)}`, { method: 'POST', headers, body, duplex: 'half' });
    return (await response.json()) as ChunkUploadResult;
  }

  /** Marks a query's chunk stream complete: `completed`, or `already_completed`. */
  async completeChunks(query: string): Promise<{ status: 'completed' | 'already_completed'; query: string }> {
    const response = await this.send(`/stream/${encodeURIComponent(query)}/complete`, { method: 'POST' });
    return (await response.json()) as { status: 'completed' | 'already_completed'; query: string };
  }

  /** A query's chunks as upstream streams them (`GET /stream/:query`), until `[DONE]`; resumes by id. */
  chunks(
    query: string,
    params: { fromBeginning?: boolean; waitForQuerySeconds?: number } = {},
    options: WatchOptions = {},
  ): AsyncGenerator<WatchMessage<unknown>, void, undefined> {
    const search: Record<string, string> = {};
    if (params.fromBeginning) search['from-beginning'] = 'true';
    if (params.waitForQuerySeconds !== undefined) search['wait-for-query'] = String(params.waitForQuerySeconds);
    return this.watch(`/stream/${encodeURIComponent(query)}`, search, options);
  }

  /**
   * Exports spans over OTLP/HTTP (`POST /v1/traces`): an `ExportTraceServiceRequest` as OTLP JSON
   * (an object), or its protobuf encoding (bytes). Answers the decoded JSON response (`{}` or
   * `{partialSuccess}`) for JSON, the raw bytes for protobuf.
   */
  async exportTraces(request: object | Uint8Array): Promise<unknown> {
    const binary = request instanceof Uint8Array;
    const response = await this.send('/v1/traces', {
      method: 'POST',
      headers: { 'content-type': binary ? 'application/x-protobuf' : 'application/json' },
      body: binary ? (request as Uint8Array<ArrayBuffer>) : JSON.stringify(request),
    });
    return binary ? new Uint8Array(await response.arrayBuffer()) : await response.json();
  }

  // ---- plumbing ------------------------------------------------------------------------------

  /**
   * Any watch stream (`?watch=true` is added): parsed messages, resumed by `Last-Event-ID` after a
   * dropped connection. `path` is relative to the base URL.
   */
  watch<T>(path: string, query: Record<string, string>, options: WatchOptions = {}): AsyncGenerator<WatchMessage<T>, void, undefined> {
    const url = this.url(path, path.startsWith('/v2/queries/') || /^\/stream\/[^/]+$/.test(path) ? query : { ...query, watch: 'true' });
    return watchStream<T>(async (headers, signal) => this.fetchImpl(url, { headers: { ...(await this.headers()), ...headers }, signal }), options);
  }

  /** A request with the client's credentials; a non-2xx answer throws its BrokerError. */
  async send(path: string, init: RequestInit = {}): Promise<Response> {
    const response = await this.fetchImpl(this.url(path), { ...init, headers: { ...(await this.headers()), ...(init.headers as Record<string, string>) } });
    if (!response.ok) throw await brokerErrorOf(response);
    return response;
  }

  /** The absolute URL of a path with query parameters. */
  url(path: string, query: Record<string, string> = {}): string {
    const search = new URLSearchParams(query).toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ''}`;
  }

  private async headers(): Promise<Record<string, string>> {
    const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    return { ...this.options.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) };
  }
}

/** The data of a 2xx answer (the middleware already threw for any other). */
function dataOf<T>(result: { data?: T; error?: unknown }): T {
  if (result.data === undefined) throw new Error('the broker answered no body');
  return result.data;
}

function stringValues(query: object): Record<string, string> {
  return Object.fromEntries(Object.entries(query).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
}

function ndjsonStream(chunks: AsyncIterable<unknown>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = chunks[Symbol.asyncIterator]();
  return new ReadableStream({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(`${JSON.stringify(next.value)}\n`));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
