/**
 * The executor protocol's HTTP calls (docs/executors.md), one method each, on the platform's fetch.
 * No framework: an executor is a small process, often not Node's own (see the Go notes there).
 */

/** A query as the broker answers it (`QueryExecutionJson` on the broker side). */
export interface ClaimedQuery {
  queryId: string;
  name: string;
  namespace: string;
  sessionId: string;
  target: { type: string; name: string };
  input: unknown;
  phase: 'pending' | 'assigned' | 'running' | 'done' | 'error' | 'canceled';
  reason: string | null;
  attempt: number;
  assignedExecutor: string | null;
  assignedAt: string | null;
  leaseExpiresAt: string | null;
  cancelRequested: boolean;
  response: unknown;
  error: unknown;
}

export interface HeartbeatAnswer {
  phase: ClaimedQuery['phase'];
  attempt: number;
  leaseExpiresAt: string | null;
  cancelRequested: boolean;
}

export type ReportedPhase = 'running' | 'done' | 'error' | 'canceled';

/** The broker answered with an error envelope `{error:{code,message,requestId}}`. */
export class BrokerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = 'BrokerError';
  }

  /** 409: the attempt is not the query's current one (the lease was lost, the query reassigned). */
  get isStaleAttempt(): boolean {
    return this.status === 409;
  }

  /** Worth trying again later: the broker or the network, not the request. */
  get isTransient(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface BrokerApiOptions {
  /**
   * e.g. http://ark-broker.ark-system:8080, or several replicas: a call the network fails (the
   * replica died, even mid long-poll) is sent to the next one at once, and calls stay there.
   */
  url: string | readonly string[];
  /** Sent as `Authorization: Bearer <token>`: an API key bound to the namespaces served, a JWT, a ServiceAccount token. */
  token?: string;
  fetch?: typeof fetch;
}

export class BrokerApi {
  private readonly bases: readonly string[];
  /** The replica calls go to: the one that last answered. */
  private current = 0;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: BrokerApiOptions) {
    this.bases = (typeof options.url === 'string' ? [options.url] : options.url).map((u) => u.replace(/\/+$/, ''));
    if (this.bases.length === 0) throw new Error('no broker URL given');
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** Up to `max` queries, waiting up to `waitSeconds` for one; [] when none came. */
  async claim(
    executorId: string,
    body: { max: number; waitSeconds: number; leaseSeconds: number; namespaces?: readonly string[] },
    signal?: AbortSignal,
  ): Promise<ClaimedQuery[]> {
    const answer = await this.post<{ items: ClaimedQuery[] }>(`/v2/executors/${encodeURIComponent(executorId)}/claims`, body, signal);
    return answer.items;
  }

  heartbeat(queryId: string, executorId: string, attempt: number): Promise<HeartbeatAnswer> {
    return this.post(`/v2/queries/${encodeURIComponent(queryId)}/heartbeat`, { executorId, attempt });
  }

  report(queryId: string, body: { executorId: string; attempt: number; phase: ReportedPhase; response?: unknown; error?: unknown }): Promise<ClaimedQuery> {
    return this.post(`/v2/queries/${encodeURIComponent(queryId)}/phase`, body);
  }

  /** LLM completion chunks (OpenAI `chat.completion.chunk` objects) of the query, as NDJSON to `POST /stream/:name`. */
  async streamChunks(queryName: string, chunks: readonly unknown[]): Promise<void> {
    await this.send(`/stream/${encodeURIComponent(queryName)}`, chunks.map((c) => JSON.stringify(c)).join('\n') + '\n', 'application/x-ndjson');
  }

  async completeStream(queryName: string): Promise<void> {
    await this.send(`/stream/${encodeURIComponent(queryName)}/complete`, '{}', 'application/json');
  }

  /** An operation event as Ark's executors send them (`POST /events`: reason, message, data with the query's ids). */
  async operationEvent(event: { reason: string; message: string; type?: 'Normal' | 'Warning'; data: Record<string, unknown> }): Promise<void> {
    const body = { timestamp: new Date().toISOString(), eventType: event.type ?? 'Normal', reason: event.reason, message: event.message, data: event.data };
    await this.send('/events', JSON.stringify(body), 'application/json');
  }

  private async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const text = await this.send(path, JSON.stringify(body), 'application/json', signal);
    return JSON.parse(text) as T;
  }

  /**
   * Each replica at most once, starting with the current one, until one answers. Sending a call
   * again is safe: reports and heartbeats are idempotent, and a claim a dead replica committed
   * before its answer was lost only holds its queries until their leases run out.
   */
  private async send(path: string, body: string, contentType: string, signal?: AbortSignal): Promise<string> {
    let response: Response | undefined;
    for (let tried = 0; !response; tried++) {
      const base = this.bases[this.current]!;
      try {
        response = await this.fetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': contentType, ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) },
          body,
          signal,
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        // Another call may have moved on already; move on from this replica only once.
        if (this.bases[this.current] === base) this.current = (this.current + 1) % this.bases.length;
        if (tried + 1 >= this.bases.length) throw new BrokerError(0, 'network', (error as Error).message);
      }
    }
    const text = await response.text();
    if (!response.ok) {
      let code = 'http_error';
      let message = text.slice(0, 500);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? message;
      } catch {
        // not the envelope: keep the raw text
      }
      throw new BrokerError(response.status, code, message);
    }
    return text;
  }
}
