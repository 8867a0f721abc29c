import { EventSource, type FetchLike } from 'eventsource';

export interface OpenedStream {
  source: EventSource;
  /** Settles on the first open; rejects if the stream fails before it opened. */
  opened: Promise<void>;
}

/**
 * An SSE stream for the scenarios' watchers. An error before the first open fails `opened`; a later
 * one is a lost stream, which the client resumes by itself from Last-Event-ID, so it is only reported
 * to `onLost`.
 */
export function openStream(url: string, fetch: FetchLike, onLost: (reason: string) => void): OpenedStream {
  const source = new EventSource(url, { fetch });
  let open = false;
  const opened = new Promise<void>((resolve, reject) => {
    source.onopen = () => {
      open = true;
      resolve();
    };
    source.onerror = (error) => {
      const reason = error.message ?? `HTTP ${error.code}`;
      if (!open) reject(new Error(`${url} failed to open: ${reason}`));
      else onLost(reason);
    };
  });
  return { source, opened };
}
