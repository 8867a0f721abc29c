import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { BrokerError, brokerErrorOf, isRetryable } from './errors.js';

/** One message of a watch stream: its `id:` (the resume point) and its `data:`, parsed as JSON when it is JSON. */
export interface WatchMessage<T> {
  id: string | undefined;
  data: T;
  event: string | undefined;
}

export interface WatchOptions {
  /** Start after this id (sent as `Last-Event-ID`): a session sequence, or `tx:pos` on the feed and chunk streams. */
  lastEventId?: string;
  /** Stops the watch (the iteration then ends without an error). */
  signal?: AbortSignal;
  /** Wait before reconnecting when the broker sent no `retry:` (ms, default 1000). */
  reconnectDelayMs?: number;
  /** Give up after this many reconnections in a row that got no message (default: never). */
  maxReconnects?: number;
  /** Told of every reconnection, e.g. to show it. */
  onReconnect?: (reconnect: { attempt: number; lastEventId: string | undefined; reason: unknown }) => void;
}

/** Opens the HTTP request of a watch (the client adds its credentials and the resume header). */
export type OpenStream = (headers: Record<string, string>, signal: AbortSignal) => Promise<Response>;

/** The data line that ends a chunk stream (`GET /stream/:query`, `/v2/queries/:id/completion`). */
export const DONE = '[DONE]';

/**
 * A Server-Sent-Events stream read with `fetch` (so it sends an Authorization header, which the
 * browser's EventSource cannot) and parsed by eventsource-parser. When the connection drops or the
 * broker ends it (shutdown, a stalled client), it reconnects with `Last-Event-ID` set to the last id
 * received, so the broker sends exactly the messages missed (docs/api.md#watch-streams). It ends
 * after a `[DONE]` message (not yielded), when `signal` aborts, or with a BrokerError the broker
 * answered that retrying cannot fix (401, 403, 404, 400).
 */
export async function* watchStream<T>(open: OpenStream, options: WatchOptions = {}): AsyncGenerator<WatchMessage<T>, void, undefined> {
  let lastEventId = options.lastEventId;
  let retryMs = options.reconnectDelayMs ?? 1000;
  let failures = 0;
  const outer = options.signal;
  while (!outer?.aborted) {
    const controller = new AbortController();
    const abort = () => controller.abort();
    outer?.addEventListener('abort', abort, { once: true });
    let reason: unknown;
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
      const response = await open(headers, controller.signal);
      if (!response.ok) {
        const error = await brokerErrorOf(response);
        if (!isRetryable(error)) throw error;
        if (error.retryAfterSeconds) retryMs = Math.max(retryMs, error.retryAfterSeconds * 1000);
        reason = error;
      } else if (response.body) {
        const queue: EventSourceMessage[] = [];
        const parser = createParser({
          onEvent: (message) => queue.push(message),
          onId: (id) => (lastEventId = id),
          onRetry: (ms) => (retryMs = options.reconnectDelayMs === undefined ? ms : Math.min(ms, options.reconnectDelayMs)),
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.feed(value);
            for (const message of queue.splice(0)) {
              failures = 0;
              if (message.data === DONE) return;
              yield { id: message.id, data: parseData(message.data) as T, event: message.event };
            }
          }
        } finally {
          reader.releaseLock();
        }
        reason = new Error('the broker ended the stream');
      }
    } catch (error) {
      if (outer?.aborted) return;
      if (error instanceof BrokerError && !isRetryable(error)) throw error;
      reason = error;
    } finally {
      outer?.removeEventListener('abort', abort);
      controller.abort();
    }
    failures += 1;
    if (options.maxReconnects !== undefined && failures > options.maxReconnects) throw reason;
    options.onReconnect?.({ attempt: failures, lastEventId, reason });
    await delay(retryMs, outer);
  }
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

const delay = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
