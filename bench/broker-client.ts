import { Pool } from 'undici';

/** Generous: a request slower than this is a stall worth counting as an error, not a latency sample. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface AppendedItem {
  sessionId: string;
  sequence: number;
  duplicate: boolean;
}

/** A whole answer, body unparsed. */
export interface RawAnswer {
  status: number;
  contentType: string;
  body: Buffer;
}

export type AppendOutcome = { ok: true; items: AppendedItem[] } | { ok: false; status: number; retryAfterSeconds: number | undefined; message: string };

/** One event as `POST /v2/events` takes it. */
export interface BenchEvent {
  sessionId: string;
  type: 'custom.bench';
  data: unknown;
}

/** Answers meaning "no such route here": the target does not speak this part of the API. */
const ROUTE_MISSING_STATUSES = new Set([404, 405, 501]);

export class RouteMissingError extends Error {}

/** Keep-alive connections to one broker, with paths resolved under its base URL. */
export class BrokerClient {
  private readonly pool: Pool;
  private readonly pathPrefix: string;

  constructor(
    readonly baseUrl: string,
    connections: number,
  ) {
    const url = new URL(baseUrl);
    this.pool = new Pool(url.origin, { connections, pipelining: 1 });
    this.pathPrefix = url.pathname.replace(/\/+$/, '');
  }

  /**
   * `body` is a serialised event or array of events, so closed-loop workers can reuse one. Throws
   * RouteMissingError when the target has no such route (e.g. a baseline broker without /v2).
   */
  async postEvents(body: string): Promise<AppendOutcome> {
    const response = await this.pool.request({
      method: 'POST',
      path: `${this.pathPrefix}/v2/events`,
      headers: { 'content-type': 'application/json' },
      body,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    const text = await response.body.text();
    if (response.statusCode === 201) return { ok: true, items: (JSON.parse(text) as { items: AppendedItem[] }).items };
    if (ROUTE_MISSING_STATUSES.has(response.statusCode)) {
      throw new RouteMissingError(`POST ${this.pathPrefix}/v2/events answered HTTP ${response.statusCode}: ${text.replace(/\s+/g, ' ').slice(0, 100)}`);
    }
    const retryAfter = Number(response.headers['retry-after']);
    return {
      ok: false,
      status: response.statusCode,
      retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : undefined,
      message: text.slice(0, 300),
    };
  }

  /**
   * POSTs `body` to `path` (under the base URL) and reads the whole answer. Throws RouteMissingError
   * when the target has no such route.
   */
  async post(path: string, body: string | Uint8Array, contentType: string): Promise<RawAnswer> {
    const response = await this.pool.request({
      method: 'POST',
      path: `${this.pathPrefix}${path}`,
      headers: { 'content-type': contentType },
      body,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    const answer = Buffer.from(await response.body.arrayBuffer());
    if (ROUTE_MISSING_STATUSES.has(response.statusCode)) {
      throw new RouteMissingError(
        `POST ${this.pathPrefix}${path} answered HTTP ${response.statusCode}: ${answer.toString().replace(/\s+/g, ' ').slice(0, 100)}`,
      );
    }
    const type = response.headers['content-type'];
    return { status: response.statusCode, contentType: Array.isArray(type) ? type.join(', ') : (type ?? ''), body: answer };
  }

  /** GETs `path` (under the base URL) and reads the whole answer, whatever its status. */
  async get(path: string): Promise<RawAnswer> {
    const response = await this.pool.request({
      method: 'GET',
      path: `${this.pathPrefix}${path}`,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    const answer = Buffer.from(await response.body.arrayBuffer());
    const type = response.headers['content-type'];
    return { status: response.statusCode, contentType: Array.isArray(type) ? type.join(', ') : (type ?? ''), body: answer };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export function sessionWatchUrl(baseUrl: string, sessionId: string): string {
  return `${baseUrl}/v2/sessions/${encodeURIComponent(sessionId)}/events?watch=true`;
}
