import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { BrokerConfig } from '#ark/config';
import { EventLogRepository, EventWatchHub, formatFeedCursor, toArkEventJson, type ArkEvent, type FeedCursor, type Watch } from '#ark/event-store';
import { SseStream } from '#ark/streaming';

/** Serves watch streams: SSE framing with resumable ids over the in-memory watch hub. */
@Injectable()
export class EventStreamService implements BeforeApplicationShutdown {
  private readonly open = new Set<SseStream>();

  constructor(
    private readonly hub: EventWatchHub,
    private readonly log: EventLogRepository,
    private readonly config: BrokerConfig,
  ) {}

  /** `id:` is the session sequence. */
  watchSession(reply: FastifyReply, tenantId: string, sessionId: string, afterSequence: number): void {
    this.serve(reply, (sink) => this.hub.watchSession(tenantId, sessionId, afterSequence, sink), (e) => String(e.sequence));
  }

  /** `id:` is the feed cursor `tx:pos`; without a cursor the stream starts from now. */
  async watchTenant(reply: FastifyReply, tenantId: string, after: FeedCursor | undefined): Promise<void> {
    const from = after ?? (await this.log.feedHead());
    this.serve(
      reply,
      (sink) => this.hub.watchTenant(tenantId, from, sink),
      (e) => formatFeedCursor({ transactionId: BigInt(e.transactionId), globalPosition: e.globalPosition }),
    );
  }

  private serve(
    reply: FastifyReply,
    subscribe: (sink: { deliver(e: ArkEvent): boolean }) => Watch,
    idOf: (e: ArkEvent) => string,
  ): void {
    reply.hijack();
    const stream = new SseStream(reply.raw, {
      heartbeatMs: this.config.SSE_HEARTBEAT_MS,
      retryMs: this.config.SSE_RETRY_MS,
      stallTimeoutMs: this.config.SSE_STALL_TIMEOUT_MS,
      pauseBufferedBytes: 256 * 1024,
    }).open();
    const watch = subscribe({ deliver: (e) => stream.send({ id: idOf(e), data: JSON.stringify(toArkEventJson(e)) }) });
    stream.onDrain(() => watch.resume());
    this.open.add(stream);
    stream.onClose(() => {
      watch.close();
      this.open.delete(stream);
    });
  }

  /** Ends every stream before the server closes: clients reconnect (to another replica) with their last id. */
  beforeApplicationShutdown(): void {
    for (const stream of [...this.open]) stream.close();
  }
}
