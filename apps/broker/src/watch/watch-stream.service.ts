import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { ReadScope } from '#ark/database';
import type { FastifyReply } from 'fastify';
import { BrokerConfig } from '#ark/config';
import { InvalidCursorError, TooManyWatchesError } from '#ark/errors';
import {
  EventLogRepository,
  EventWatchHub,
  FEED_START,
  formatFeedCursor,
  parseFeedCursor,
  toArkEventJson,
  type ArkEvent,
  type FeedCursor,
  type Watch,
  type WatchSink,
} from '#ark/event-store';
import { ShutdownSignal } from '#ark/shutdown';
import { SseStream } from '#ark/streaming';
import { AheadOfLogOrder, type AheadOfLog } from './ahead-of-log.js';
import { leaveReadShare } from '../tenant-read-share.js';
import { LOCAL_IDENTITY, type CallerIdentity } from '#ark/tenancy';

export interface WatchOptions {
  /** Only these events are sent. */
  filter?: (event: ArkEvent) => boolean;
  /** The `data:` of an event; default the ark event JSON. `undefined` skips the event. Pass a
   *  module-level function: its results are cached per event for every watcher using it. */
  format?: EventFormat;
  /** Comment lines written first (e.g. upstream's `: connected`). */
  preamble?: string[];
  /** Messages sent before the live events (a snapshot read after the stream's start cursor was taken). */
  initial?: unknown[];
  /** After an event: `data:` texts, sent verbatim (e.g. upstream's `[DONE]`), that end the stream; undefined goes on. */
  endAfter?: (event: ArkEvent) => readonly string[] | undefined;
  /** Ends the stream with these `data:` texts (verbatim) unless an event passes the filter within `ms`. */
  endUnlessEventWithin?: { ms: number; messages: readonly string[] };
  /** Sends each event as far after the previous one as their times are apart (at most `maxGapMs`). */
  pace?: { timeOf: (event: ArkEvent) => number; maxGapMs: number };
  /** Messages this replica sees before they commit (not with `pace`): see AheadOfLog. */
  ahead?: AheadOfLog;
}

type EventFormat = (event: ArkEvent) => unknown;
type EventId = (event: ArkEvent) => string;

/**
 * SSE frames per (format, id) and event: watchers of one group receive the same event objects, so
 * a thousand watchers of a session cost one JSON.stringify and one frame per event, not a thousand.
 */
const frames = new WeakMap<EventFormat, WeakMap<EventId, WeakMap<ArkEvent, string | null>>>();

function frameOf(format: EventFormat, idOf: EventId, event: ArkEvent): string | null {
  let byId = frames.get(format);
  if (!byId) frames.set(format, (byId = new WeakMap()));
  let cache = byId.get(idOf);
  if (!cache) byId.set(idOf, (cache = new WeakMap()));
  let frame = cache.get(event);
  if (frame === undefined) {
    const value = format(event);
    frame = value === undefined ? null : SseStream.frame({ id: idOf(event), data: JSON.stringify(value) });
    cache.set(event, frame);
  }
  return frame;
}

/** `id:` of a session-stream message: its sequence. */
const sequenceId: EventId = (e) => String(e.sequence);
/** `id:` of a tenant-feed message: its `tx:pos` cursor. */
export const feedId: EventId = (e) => formatFeedCursor({ transactionId: BigInt(e.transactionId), globalPosition: e.globalPosition });

/**
 * Serves every watch stream: SSE framing with resumable ids over the in-memory watch hub, with an
 * optional filter and payload format so the upstream-compatible routes share the same machinery.
 */
@Injectable()
export class WatchStreamService implements BeforeApplicationShutdown {
  /** Open streams, with their response for ending the connection at shutdown. */
  private readonly open = new Map<SseStream, FastifyReply['raw']>();
  /** Open streams per `tenant\0user`, for WATCH_STREAMS_PER_USER. */
  private readonly perUser = new Map<string, number>();
  private readonly deliveryObservers: ((event: ArkEvent) => void)[] = [];

  constructor(
    private readonly hub: EventWatchHub,
    private readonly log: EventLogRepository,
    private readonly config: BrokerConfig,
    shutdown: ShutdownSignal,
  ) {
    shutdown.onDrain(() => this.closeAll());
  }

  /** One session (the caller checked that the scope sees it); `id:` is the sequence. */
  watchSession(reply: FastifyReply, scope: ReadScope, sessionId: string, afterSequence: number, options: WatchOptions = {}): void {
    this.serve(reply, options, (sink) => this.hub.watchSession(scope.tenantId, sessionId, afterSequence, sink), sequenceId);
  }

  /** The feed of what the scope sees; `id:` is `tx:pos`; without a cursor the stream starts from now. */
  async watchTenant(reply: FastifyReply, scope: ReadScope, after: FeedCursor | undefined, options: WatchOptions = {}): Promise<void> {
    const { from, filter } = await this.start(after, options.filter);
    this.serve(reply, { ...options, filter }, (sink) => this.hub.watchTenant(scope, from, sink), feedId);
  }

  /** One query's events the scope sees (feed order, any session); `id:` is `tx:pos`; without a cursor, from now. */
  async watchQuery(
    reply: FastifyReply,
    scope: ReadScope,
    queryIds: readonly string[],
    after: FeedCursor | undefined,
    options: WatchOptions = {},
  ): Promise<void> {
    const { from, filter } = await this.start(after, options.filter);
    this.serve(reply, { ...options, filter }, (sink) => this.hub.watchQuery(scope, queryIds, from, sink), feedId);
  }

  /** One event type's events the scope sees (a custom topic), in feed order; `id:` is `tx:pos`; without a cursor, from now. */
  async watchType(reply: FastifyReply, scope: ReadScope, type: string, after: FeedCursor | undefined): Promise<void> {
    const { from, filter } = await this.start(after);
    this.serve(reply, { filter }, (sink) => this.hub.watchType(scope, type, from, sink), feedId);
  }

  /** The feed start: after the given cursor, or from now (skipping what had already committed). */
  async start(after: FeedCursor | undefined, filter?: (event: ArkEvent) => boolean) {
    if (after) return { from: after, filter };
    const now = await this.log.feedNow();
    const fresh = (e: ArkEvent) => !now.committed(BigInt(e.transactionId));
    return { from: now.cursor, filter: filter ? (e: ArkEvent) => fresh(e) && filter(e) : fresh };
  }

  /**
   * A tenant-feed watch whose messages are read models, not events: each accepted event marks a key
   * (e.g. its session) stale, and the stale keys' current state is loaded and sent, coalesced. Memory
   * is bounded by the number of keys; `id:` is the cursor of the newest event seen.
   */
  async watchTenantState(
    reply: FastifyReply,
    scope: ReadScope,
    after: FeedCursor | undefined,
    options: Pick<WatchOptions, 'preamble' | 'initial'> & {
      keyOf: (event: ArkEvent) => string | undefined;
      load: (keys: string[]) => Promise<unknown[]>;
    },
  ): Promise<void> {
    const { from, filter } = await this.start(after, (e) => options.keyOf(e) !== undefined);
    const load = options.load;
    const stream = this.openStream(reply, options);
    const stale = new Set<string>();
    let lastId = '';
    let pumping = false;
    const pump = async () => {
      if (pumping) return;
      pumping = true;
      try {
        while (stale.size > 0 && stream.isOpen) {
          const keys = [...stale];
          stale.clear();
          const id = lastId;
          for (const data of await load(keys)) {
            if (!stream.send({ id, data: JSON.stringify(data) })) await new Promise<void>((resolve) => stream.onDrain(resolve));
          }
        }
      } catch {
        stream.close(); // the client reconnects with its last id and is sent the state again
      } finally {
        pumping = false;
      }
    };
    const watch = this.hub.watchTenant(scope, from, {
      accepts: filter,
      deliver: (e) => {
        stale.add(options.keyOf(e)!);
        lastId = feedId(e);
        void pump();
        return true;
      },
    });
    stream.onClose(() => watch.close());
  }

  /**
   * Where an upstream-style watch starts: `Last-Event-ID` (`tx:pos`) wins; an upstream numeric
   * `?cursor=` is a global position; neither means from now (undefined).
   */
  async resumeCursor(scope: ReadScope, lastEventId: string | undefined, position: number | undefined): Promise<FeedCursor | undefined> {
    if (lastEventId !== undefined) {
      const parsed = parseFeedCursor(lastEventId);
      if (!parsed) throw new InvalidCursorError(`bad Last-Event-ID ${JSON.stringify(lastEventId)}: expected tx:pos`);
      return parsed;
    }
    if (position === undefined) return undefined;
    return (await this.log.feedCursorAt(scope, position)) ?? FEED_START;
  }

  /** Called after each event is written to a watch stream (metrics). */
  onDelivered(observer: (event: ArkEvent) => void): void {
    this.deliveryObservers.push(observer);
  }

  /** Bytes written to open streams and not yet handed to the kernel: what slow clients cost in memory. */
  get bufferedBytes(): number {
    let bytes = 0;
    for (const stream of this.open.keys()) bytes += stream.bufferedBytes;
    return bytes;
  }

  /** Ends every stream before the server closes: clients reconnect (to another replica) with their last id. */
  beforeApplicationShutdown(): void {
    this.closeAll();
  }

  /**
   * Ends each stream and its connection too: a keep-alive connection left open would carry the
   * client's reconnect back to this closing process (and a 503) instead of to another replica.
   */
  private closeAll(): void {
    for (const [stream, res] of [...this.open]) {
      stream.close();
      res.socket?.end();
    }
  }

  /** Opens the SSE response, writes the preamble and initial messages, and tracks it for shutdown. */
  private openStream(reply: FastifyReply, options: Pick<WatchOptions, 'preamble' | 'initial'>): SseStream {
    const caller = (reply.request as { identity?: CallerIdentity }).identity ?? LOCAL_IDENTITY;
    const user = `${caller.tenantId}\u0000${caller.userId}`;
    const held = this.perUser.get(user) ?? 0;
    if (held >= this.config.WATCH_STREAMS_PER_USER) {
      throw new TooManyWatchesError(`at most ${this.config.WATCH_STREAMS_PER_USER} open watch streams per user; close one first`, 1);
    }
    this.perUser.set(user, held + 1);
    leaveReadShare(reply.request);
    reply.hijack();
    const stream = new SseStream(reply.raw, {
      heartbeatMs: this.config.SSE_HEARTBEAT_MS,
      retryMs: this.config.SSE_RETRY_MS,
      stallTimeoutMs: this.config.SSE_STALL_TIMEOUT_MS,
      pauseBufferedBytes: 256 * 1024,
    }).open();
    for (const line of options.preamble ?? []) stream.comment(line);
    for (const data of options.initial ?? []) stream.send({ data: JSON.stringify(data) });
    this.open.set(stream, reply.raw);
    stream.onClose(() => {
      this.open.delete(stream);
      const left = (this.perUser.get(user) ?? 1) - 1;
      if (left > 0) this.perUser.set(user, left);
      else this.perUser.delete(user);
    });
    return stream;
  }

  private serve(reply: FastifyReply, options: WatchOptions, subscribe: (sink: WatchSink) => Watch, idOf: EventId): void {
    const stream = this.openStream(reply, options);
    const format = options.format ?? toArkEventJson;
    const end = (messages: readonly string[]) => {
      for (const data of messages) stream.send({ data });
      stream.close();
    };
    const quiet = options.endUnlessEventWithin;
    let quietTimer = quiet && setTimeout(() => end(quiet.messages), quiet.ms);
    const ahead = options.pace ? undefined : options.ahead;
    const order = new AheadOfLogOrder();
    /** The client is behind: nothing is sent ahead until it drains (its committed copy comes later). */
    let behind = false;
    const observe = (e: ArkEvent) => {
      for (const observer of this.deliveryObservers) observer(e);
    };
    const sendDueAhead = () => {
      while (!behind && stream.isOpen) {
        const due = order.takeDue();
        if (!due) return;
        clearTimeout(quietTimer);
        quietTimer = undefined;
        behind = !stream.send({ data: JSON.stringify(due.data) });
      }
    };
    /** Writes one event; false when the stream must pause (client behind, or ended). */
    const emit = (e: ArkEvent): boolean => {
      const key = ahead?.keyOf(e);
      if (key !== undefined && order.committed(key)) {
        observe(e);
        const more = stream.sendFrame(`id: ${idOf(e)}\n\n`);
        behind = !more;
        return more;
      }
      const frame = frameOf(format, idOf, e);
      const more = frame === null ? true : stream.sendFrame(frame);
      if (frame !== null) observe(e);
      behind = !more;
      const last = options.endAfter?.(e);
      if (last) {
        end(last);
        return false;
      }
      if (key !== undefined) sendDueAhead();
      return more && !behind;
    };
    const pacer = options.pace && new Pacer(options.pace.timeOf, options.pace.maxGapMs);
    let paceTimer: NodeJS.Timeout | undefined;
    const watch = subscribe({
      accepts: options.filter,
      deliver: (e) => {
        clearTimeout(quietTimer);
        quietTimer = undefined;
        const wait = pacer?.delayOf(e) ?? 0;
        if (wait <= 0) return emit(e);
        // Delivery pauses while the event waits for its time; the hub re-reads from after it on resume.
        paceTimer = setTimeout(() => {
          paceTimer = undefined;
          if (stream.isOpen && emit(e)) watch.resume();
        }, wait);
        return false;
      },
    });
    const unsubscribeAhead = ahead?.subscribe((key, data) => {
      if (behind || !stream.isOpen) return;
      order.offer(key, data);
      sendDueAhead();
    });
    stream.onDrain(() => {
      behind = false;
      if (paceTimer === undefined) watch.resume();
    });
    stream.onClose(() => {
      clearTimeout(quietTimer);
      clearTimeout(paceTimer);
      order.clear();
      unsubscribeAhead?.();
      watch.close();
    });
  }
}

/**
 * Real-time replay: event i is due `min(maxGap, max(0, t[i] - t[i-1]))` after event i-1 was sent, so
 * recorded gaps are kept (long idle gaps shortened to the cap, clock skew never waits) and a live
 * event, whose gap has already passed, goes out at once.
 */
class Pacer {
  private lastTime: number | undefined;
  private lastDue = 0;

  constructor(
    private readonly timeOf: (event: ArkEvent) => number,
    private readonly maxGapMs: number,
  ) {}

  /** How long to wait before sending this event (ms; ≤ 0: now). */
  delayOf(event: ArkEvent): number {
    const time = this.timeOf(event);
    const now = performance.now();
    const gap = this.lastTime === undefined ? 0 : Math.min(this.maxGapMs, Math.max(0, time - this.lastTime));
    this.lastTime = time;
    this.lastDue = Math.max(now, this.lastDue + gap);
    return this.lastDue - now;
  }
}
