/**
 * The viewer's way to the broker: the typed client (`libs/client`) of the broker that served the
 * viewer, with the caller's token when there is one (AUTH_MODE=jwt). With AUTH_MODE=header the proxy
 * in front adds the identity, so no token is sent. Watches resume by Last-Event-ID (the client's).
 */
import { BrokerClient, BrokerError, type WatchMessage, type WatchOptions } from '#ark/client';

export { BrokerError };
export type { ArkEvent, Session, SessionAggregate, CompletionMessage } from '#ark/client';

const TOKEN_KEY = 'ark-broker.viewer.token';

/** The token typed into the viewer, kept for this browser tab only. */
export const credentials = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token.trim()),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

const options = (fetchImpl?: typeof fetch) => ({
  baseUrl: location.origin,
  token: () => credentials.token() ?? undefined,
  ...(fetchImpl ? { fetch: fetchImpl } : {}),
});

/** The broker the viewer came from. */
export const broker = new BrokerClient(options());

/** The broker wants (other) credentials: ask for a token. */
export const needsToken = (error: unknown): error is BrokerError => error instanceof BrokerError && (error.status === 401 || error.status === 403);

/** A refusal or failure as one line for the page. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export type WatchState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface WatchHandlers<T> {
  message: (data: T, id: string | undefined) => void;
  state?: (state: WatchState) => void;
  /** The stream ended by itself (a completion's `[DONE]`). */
  ended?: () => void;
  /** The broker refused the stream (401, 403, 404, 400: not retried). */
  failed?: (error: unknown) => void;
}

export interface Watch {
  close(): void;
}

/**
 * Follows one of the client's watches, telling `handlers` its messages and whether it is connected.
 * Each watch gets its own client, whose fetch notices when the stream's answer arrives ('live'),
 * which the client's iteration does not report.
 */
export function follow<T>(
  start: (client: BrokerClient, options: WatchOptions) => AsyncGenerator<WatchMessage<T>, void, undefined>,
  handlers: WatchHandlers<T>,
): Watch {
  const controller = new AbortController();
  const client = new BrokerClient(
    options(async (input, init) => {
      const response = await fetch(input, init);
      if (response.ok && response.headers.get('content-type')?.startsWith('text/event-stream')) handlers.state?.('live');
      return response;
    }),
  );
  handlers.state?.('connecting');
  void (async () => {
    try {
      for await (const message of start(client, { signal: controller.signal, onReconnect: () => handlers.state?.('reconnecting') })) {
        handlers.message(message.data, message.id);
      }
      if (!controller.signal.aborted) handlers.ended?.();
    } catch (error) {
      if (!controller.signal.aborted) handlers.failed?.(error);
    } finally {
      handlers.state?.('closed');
    }
  })();
  return { close: () => controller.abort() };
}
