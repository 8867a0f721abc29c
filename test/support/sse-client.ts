import { EventSource } from 'eventsource';

export interface ReceivedMessage {
  id: string;
  data: any;
}

/**
 * An EventSource (the `eventsource` package, the standard client) that records what it receives and
 * lets a test wait for a number of messages.
 */
export class RecordingEventSource {
  readonly messages: ReceivedMessage[] = [];
  readonly source: EventSource;
  opened: Promise<void>;
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(url: string, headers: Record<string, string> = {}) {
    this.source = new EventSource(url, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }),
    });
    this.opened = new Promise((resolve) => this.source.addEventListener('open', () => resolve(), { once: true }));
    this.source.onmessage = (message) => {
      this.messages.push({ id: message.lastEventId, data: JSON.parse(message.data) });
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length < w.count) return true;
        w.resolve();
        return false;
      });
    };
  }

  /** Resolves once `count` messages have arrived in total; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 15_000): Promise<ReceivedMessage[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} messages; have ${this.messages.length}`)), timeoutMs);
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.messages);
        },
      });
    });
  }

  close(): void {
    this.source.close();
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
