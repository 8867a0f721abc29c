/**
 * The viewer's only way to the broker: JSON reads and SSE watches of the broker's own API, with the
 * caller's token when there is one (AUTH_MODE=jwt). With AUTH_MODE=header the proxy in front adds the
 * identity, so no token is sent. `eventsource` (not the browser's EventSource) because it can send
 * the Authorization header and still resumes with Last-Event-ID after a dropped connection.
 */
import { EventSource } from 'eventsource';

const TOKEN_KEY = 'ark-broker.viewer.token';

/** The token typed into the viewer, kept for this browser tab only. */
export const credentials = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token.trim()),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/** An `{error:{code,message}}` answer, or a failed connection (status 0). */
export class BrokerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** The broker wants (other) credentials: ask for a token. */
  get needsToken(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

function authHeaders(): Record<string, string> {
  const token = credentials.token();
  return token ? { authorization: `Bearer ${token}` } : {};
}

export type Params = Record<string, string | number | boolean | undefined | null>;

/** `path?params` (empty params left out), relative to the broker the viewer came from. */
export function urlOf(path: string, params: Params = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const query = search.toString();
  return query ? `${path}?${query}` : path;
}

async function errorOf(response: Response): Promise<BrokerError> {
  const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
  return new BrokerError(response.status, body?.error?.code ?? `http_${response.status}`, body?.error?.message ?? response.statusText);
}

export async function getJson<T>(path: string, params: Params = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(urlOf(path, params), { headers: { accept: 'application/json', ...authHeaders() } });
  } catch (error) {
    throw new BrokerError(0, 'unreachable', `the broker did not answer: ${(error as Error).message}`);
  }
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

export type WatchState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface WatchHandlers {
  /** One SSE message: its `data:` text and `id:`. */
  message(data: string, id: string | undefined): void;
  state?(state: WatchState): void;
  /** The broker refused the stream (it is not retried). */
  failed?(error: BrokerError): void;
}

export interface Watch {
  close(): void;
}

/** An SSE stream of the API; reconnects by itself, resuming after the last `id:` it saw. */
export function watch(path: string, params: Params, handlers: WatchHandlers): Watch {
  let refusal: BrokerError | undefined;
  const source = new EventSource(urlOf(path, params), {
    fetch: async (input, init) => {
      const response = await fetch(input, { ...init, headers: { ...init.headers, ...authHeaders() } });
      if (!response.ok) refusal = await errorOf(response.clone());
      return response;
    },
  });
  handlers.state?.('connecting');
  source.onopen = () => handlers.state?.('live');
  source.onmessage = (event) => handlers.message(String(event.data), event.lastEventId || undefined);
  source.onerror = (event) => {
    if (source.readyState === EventSource.CLOSED) {
      handlers.state?.('closed');
      handlers.failed?.(refusal ?? new BrokerError(event.code ?? 0, 'stream_failed', event.message ?? 'the stream failed'));
    } else handlers.state?.('reconnecting');
  };
  return {
    close: () => {
      source.close();
      handlers.state?.('closed');
    },
  };
}
