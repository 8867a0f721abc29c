import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { BrokerConfig } from '#ark/config';
import { EventLogRepository, EventWatchHub, formatFeedCursor, toArkEventJson, type ArkEvent, type FeedCursor, type Watch, type WatchSink } from '#ark/event-store';
import { SseStream } from '#ark/streaming';

export interface WatchOptions {
  /** Only these events are sent. */
  filter?: (event: ArkEvent) => boolean;
  /** The `data:` of an event; default the ark event JSON. `undefined` skips the event. */
  format?: (event: ArkEvent) => unknown;
  /** Comment lines written first (e.g. upstream's `: connected`). */
  preamble?: string[];
  /** Messages sent before the live events (a snapshot read after the stream's start cursor was taken). */
  initial?: unknown[];
}

/** `id:` of a tenant-feed message: its `tx:pos` cursor. */
export const feedId = (e: ArkEvent) => formatFeedCursor({ transactionId: BigInt(e.transactionId), globalPosition: e.globalPosition });

/**
 * Serves every watch stream: SSE framing with resumable ids over the in-memory watch hub, with an
 * optional filter and payload format so the upstream-compatible routes share the same machinery.
 */
@Injectable()
export class WatchStreamService implements BeforeApplicationShutdown {
  private readonly open = new Set<SseStream>();

  constructor(
    private readonly hub: EventWatchHub,
    private readonly log: EventLogRepository,
    private readonly config: BrokerConfig,
  ) {}

  /** One session; `id:` is the sequence. */
  watchSession(reply: FastifyReply, tenantId: string, sessionId: string, afterSequence: number, options: WatchOptions = {}): void {
    this.serve(reply, options, (sink) => this.hub.watchSession(tenantId, sessionId, afterSequence, sink), (e) => String(e.sequence));
  }

  /** The tenant's feed; `id:` is `tx:pos`; without a cursor the stream starts from now. */
  async watchTenant(reply: FastifyReply, tenantId: string, after: FeedCursor | undefined, options: WatchOptions = {}): Promise<void> {
    const from = after ?? (await this.log.feedHead());
    this.serve(reply, options, (sink) => this.hub.watchTenant(tenantId, from, sink), feedId);
  }

  /** One query's events (feed order, any session); `id:` is `tx:pos`; without a cursor, from now. */
  async watchQuery(reply: FastifyReply, tenantId: string, queryId: string, after: FeedCursor | undefined, options: WatchOptions = {}): Promise<void> {
    const from = after ?? (await this.log.feedHead());
    this.serve(reply, options, (sink) => this.hub.watchQuery(tenantId, queryId, from, sink), feedId);
  }

  /** Ends every stream before the server closes: clients reconnect (to another replica) with their last id. */
  beforeApplicationShutdown(): void {
    for (const stream of [...this.open]) stream.close();
  }

  private serve(reply: FastifyReply, options: WatchOptions, subscribe: (sink: WatchSink) => Watch, idOf: (e: ArkEvent) => string): void {
    reply.hijack();
    const stream = new SseStream(reply.raw, {
      heartbeatMs: this.config.SSE_HEARTBEAT_MS,
      retryMs: this.config.SSE_RETRY_MS,
      stallTimeoutMs: this.config.SSE_STALL_TIMEOUT_MS,
      pauseBufferedBytes: 256 * 1024,
    }).open();
    for (const line of options.preamble ?? []) stream.comment(line);
    for (const data of options.initial ?? []) stream.send({ data: JSON.stringify(data) });
    const format = options.format ?? toArkEventJson;
    const watch = subscribe({
      accepts: options.filter,
      deliver: (e) => {
        const data = format(e);
        return data === undefined ? true : stream.send({ id: idOf(e), data: JSON.stringify(data) });
      },
    });
    stream.onDrain(() => watch.resume());
    this.open.add(stream);
    stream.onClose(() => {
      watch.close();
      this.open.delete(stream);
    });
  }
}
