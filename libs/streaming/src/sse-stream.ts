import type { ServerResponse } from 'node:http';

export interface SseOptions {
  /** Interval of `: heartbeat` comments, which keep proxies from closing an idle stream. */
  heartbeatMs: number;
  /** `retry:` hint for the client's reconnect delay. */
  retryMs: number;
  /** A client that has not drained for this long is disconnected; it resumes from its last id. */
  stallTimeoutMs: number;
  /** Unsent bytes at which `send` asks the writer to pause (what a stuck client costs, plus one message). */
  pauseBufferedBytes: number;
  /** Extra response headers (e.g. X-Request-ID). */
  headers?: Record<string, string>;
}

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/**
 * One Server-Sent-Events response. `send` reports whether the writer may go on; a writer that gets
 * `false` stops producing and waits for `onDrain`, so a slow client costs at most
 * `pauseBufferedBytes` plus one message, never an unbounded queue. A client that stays stuck past
 * the stall timeout is cut; its `Last-Event-ID` tells it where to resume.
 */
export class SseStream {
  private heartbeat: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly closeHandlers: (() => void)[] = [];
  private readonly drainHandlers: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SseOptions,
  ) {}

  open(status = 200): this {
    this.res.writeHead(status, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      ...this.options.headers,
    });
    this.res.socket?.setNoDelay(true);
    this.res.socket?.setTimeout(0);
    this.res.write(`retry: ${this.options.retryMs}\n\n`);
    this.heartbeat = setInterval(() => this.comment('heartbeat'), this.options.heartbeatMs);
    this.res.on('close', () => this.finish());
    this.res.on('drain', () => {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
      for (const h of this.drainHandlers) h();
    });
    return this;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** The wire form of a message, for `sendFrame` (build it once when many streams send the same). */
  static frame(message: SseMessage): string {
    let frame = '';
    if (message.id !== undefined) frame += `id: ${message.id}\n`;
    if (message.event !== undefined) frame += `event: ${message.event}\n`;
    for (const line of message.data.split('\n')) frame += `data: ${line}\n`;
    return frame + '\n';
  }

  /** Writes one message; false when the client is behind (stop until `onDrain`). */
  send(message: SseMessage): boolean {
    return this.sendFrame(SseStream.frame(message));
  }

  /** Writes a message built by `SseStream.frame`; false when the client is behind. */
  sendFrame(frame: string): boolean {
    if (this.closed) return false;
    return this.write(frame);
  }

  comment(text: string): boolean {
    if (this.closed) return false;
    return this.write(`: ${text}\n\n`);
  }

  onDrain(handler: () => void): void {
    this.drainHandlers.push(handler);
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers.push(handler);
  }

  close(): void {
    if (this.closed) return;
    this.res.end();
    this.finish();
  }

  /** Unsent bytes held in this process for the client (not counting the kernel's socket buffer). */
  get bufferedBytes(): number {
    return this.closed ? 0 : this.res.writableLength;
  }

  private write(frame: string): boolean {
    this.res.write(frame);
    // The pause threshold is above the socket's high-water mark, so the last write returned false
    // and 'drain' will fire once the client catches up.
    if (this.res.writableLength < this.options.pauseBufferedBytes) return true;
    this.stallTimer ??= setTimeout(() => this.cut(), this.options.stallTimeoutMs);
    return false;
  }

  private cut(): void {
    this.res.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.stallTimer);
    for (const h of this.closeHandlers.splice(0)) h();
  }
}
