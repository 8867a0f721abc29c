import type { ReadScope } from '#ark/database';
import type { ArkEvent } from './ark-event.js';
import { recordedFromAfter, type AppendNotification, type EventLogRepository, type FeedNarrowing, type LogPage } from './event-log.repository.js';
import { compareFeedCursors, type FeedCursor } from './feed-cursor.js';

/** Receives a watcher's events. Returning false means "my socket is full": delivery pauses. */
export interface WatchSink {
  /** Only events it accepts are delivered (the cursor still moves past the others). */
  accepts?(event: ArkEvent): boolean;
  deliver(event: ArkEvent): boolean;
  /** Reading failed for good (e.g. the database is gone for longer than the caller waits). */
  fail?(error: unknown): void;
}

export interface Watch {
  /** Continue after `deliver` returned false (the socket drained). */
  resume(): void;
  close(): void;
}

const MAX_PAGE = 250;
const MIN_PAGE = 8;

interface Watcher<C> {
  cursor: C;
  paused: boolean;
  sink: WatchSink;
}

/**
 * Watchers of the same stream (one session, or one tenant's feed) share one reader: a wake-up reads
 * the table once from the lowest cursor among them and hands each watcher what lies past its own
 * cursor. Reads of a group never overlap, so each watcher sees every event exactly once, in order.
 */
abstract class WatchGroup<C> {
  readonly watchers = new Set<Watcher<C>>();
  private reading = false;
  private dirty = false;
  protected get isReading(): boolean {
    return this.reading;
  }
  /** Shrinks while watchers pause mid-page (big events, slow sockets) so re-reads stay small. */
  private pageSize = MAX_PAGE;
  lastReadAt = 0;

  protected abstract read(after: C, limit: number): Promise<LogPage>;
  protected abstract cursorOf(event: ArkEvent): C;
  protected abstract compare(a: C, b: C): number;
  protected afterRead(): void {}

  wake(): void {
    if (this.reading) {
      this.dirty = true;
      return;
    }
    void this.run();
  }

  private async run(): Promise<void> {
    this.reading = true;
    try {
      do {
        this.dirty = false;
        this.lastReadAt = Date.now();
        await this.catchUp();
      } while (this.dirty);
      this.afterRead();
    } catch (error) {
      // The safety-net poll retries; watchers keep their cursors.
      for (const w of this.watchers) w.sink.fail?.(error);
    } finally {
      this.reading = false;
    }
  }

  private async catchUp(): Promise<void> {
    for (;;) {
      const active = [...this.watchers].filter((w) => !w.paused);
      if (active.length === 0) return;
      const from = active.reduce((min, w) => (this.compare(w.cursor, min) < 0 ? w.cursor : min), active[0]!.cursor);
      const limit = this.pageSize;
      const { events, cut } = await this.read(from, limit);
      let consumed = false;
      for (const w of active) consumed = this.deliver(w, events) || consumed;
      this.pageSize = consumed ? Math.min(limit * 2, MAX_PAGE) : Math.max(limit >> 1, MIN_PAGE);
      // A page cut at the byte budget is not the end: read on from where it stopped.
      if (events.length < limit && !cut) return;
    }
  }

  /** Hands the watcher what lies past its cursor; true if it took the whole page. */
  protected deliver(watcher: Watcher<C>, events: readonly ArkEvent[]): boolean {
    for (const event of events) {
      if (watcher.paused || !this.watchers.has(watcher)) return false;
      const cursor = this.cursorOf(event);
      if (this.compare(cursor, watcher.cursor) <= 0) continue;
      watcher.cursor = cursor;
      if (watcher.sink.accepts && !watcher.sink.accepts(event)) continue;
      if (!watcher.sink.deliver(event)) watcher.paused = true;
    }
    return !watcher.paused;
  }
}

class SessionGroup extends WatchGroup<number> {
  constructor(
    private readonly log: EventLogRepository,
    readonly tenantId: string,
    readonly sessionId: string,
  ) {
    super();
  }
  protected read(after: number, limit: number) {
    return this.log.readSession({ tenantId: this.tenantId }, this.sessionId, after, limit);
  }
  protected cursorOf(event: ArkEvent) {
    return event.sequence;
  }
  protected compare(a: number, b: number) {
    return a - b;
  }
  /** Some watcher has not yet seen `lastSequence`. */
  isBehind(lastSequence: number): boolean {
    for (const w of this.watchers) if (w.cursor < lastSequence) return true;
    return false;
  }
  /**
   * Events of this session that this process just committed, in sequence order: a watcher whose
   * cursor is right before them gets them without a read. Sequences commit in order and without
   * gaps, so that is exactly what a read would return; any other watcher is left to a read.
   */
  offer(events: readonly ArkEvent[]): void {
    if (this.isReading) {
      this.wake(); // marks the running read dirty: it reads again and finds them
      return;
    }
    const first = events[0]!.sequence;
    for (const w of this.watchers) if (!w.paused && w.cursor === first - 1) this.deliver(w, events);
    if (this.isBehind(events.at(-1)!.sequence)) this.wake();
  }
}

/**
 * A tenant's feed, or (narrowed) the part of it that belongs to one query or is of one type, as a scope sees it:
 * a reader's scope only has the sessions that user owns (readers share a group per owner, admins one
 * per tenant).
 */
class TenantFeedGroup extends WatchGroup<FeedCursor> {
  /** Newest committed transaction we were told about, and the horizon of the last read. */
  notifiedTx = 0n;
  private held = false;
  private horizon = 0n;
  private retryMs = 5;
  private retryTimer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    private readonly log: EventLogRepository,
    private readonly commits: RecentCommits,
    readonly scope: ReadScope,
    private readonly maxRetryMs: number,
    readonly narrow?: FeedNarrowing,
  ) {
    super();
  }
  get tenantId(): string {
    return this.scope.tenantId;
  }
  protected async read(after: FeedCursor, limit: number) {
    const { events, cut, horizon } = await this.log.readFeed(this.scope, after, limit, this.narrow);
    this.horizon = horizon;
    return { events, cut };
  }
  protected cursorOf(event: ArkEvent): FeedCursor {
    return { transactionId: BigInt(event.transactionId), globalPosition: event.globalPosition, recordedFrom: recordedFromAfter(event) };
  }
  protected compare(a: FeedCursor, b: FeedCursor) {
    return compareFeedCursors(a, b);
  }
  /**
   * A commit we were notified of is still at or above the horizon when an older transaction is
   * still running: its events are held back to keep the feed gap-free. The horizon is that older
   * transaction, so its commit (`wakeIfHeldBy`) is when to look again; the timer covers transactions
   * that send no NOTIFY (rolled back, or not appends).
   */
  protected override afterRead(): void {
    clearTimeout(this.retryTimer);
    // A read that was under way when the last watcher left must not re-arm the timer: the group is
    // gone from the hub, nothing would clear it, and with its horizon committed it fired every 1 ms.
    if (this.disposed || this.watchers.size === 0) return;
    if (this.notifiedTx < this.horizon) {
      this.held = false;
      this.retryMs = 5;
      return;
    }
    this.held = true;
    // The horizon may have committed while this read was under way: then its wake-up came too early.
    const delayMs = this.commits.has(this.horizon) ? 0 : this.retryMs;
    this.retryTimer = setTimeout(() => this.wake(), delayMs);
    this.retryMs = Math.min(this.retryMs * 2, this.maxRetryMs);
  }
  /** The committed transaction `tx` was the horizon this group is held back by: read again now. */
  wakeIfHeldBy(tx: bigint): void {
    if (this.held && tx === this.horizon) this.wake();
  }
  dispose(): void {
    this.disposed = true;
    clearTimeout(this.retryTimer);
  }
}

/** The last few transactions this process was notified of as committed. */
class RecentCommits {
  private readonly ring: bigint[] = [];
  private readonly set = new Set<bigint>();
  private next = 0;

  constructor(private readonly size: number) {}

  add(tx: bigint): void {
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.set.delete(evicted);
    this.ring[this.next] = tx;
    this.set.add(tx);
    this.next = (this.next + 1) % this.size;
  }

  has(tx: bigint): boolean {
    return this.set.has(tx);
  }
}

export interface WatchHubOptions {
  pollMs: number;
}

/**
 * In-memory fan-out of the log to watchers. Wake-ups come from NOTIFY (via the listener), from a
 * reconnect (wake all) and from a slow poll that backs NOTIFY up. Events always come from the table,
 * read from each group's cursors, so a lost notification delays but never drops an event.
 */
export class EventWatchHub {
  private readonly sessions = new Map<string, SessionGroup>();
  private readonly feeds = new Map<string, TenantFeedGroup>();
  private readonly queries = new Map<string, TenantFeedGroup>();
  /** Feeds of one event type (custom topics) per `tenant\0type\0owner`; NOTIFY names no types, so any commit of the tenant wakes them. */
  private readonly types = new Map<string, TenantFeedGroup>();
  private readonly commits = new RecentCommits(64);
  /** The query groups of each `tenant\0query` (one per owner), for waking them by a notified query. */
  private readonly queryGroups = new Map<string, Set<TenantFeedGroup>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly notificationObservers: ((notification: AppendNotification, receivedAtMs: number) => void)[] = [];

  constructor(
    private readonly log: EventLogRepository,
    private readonly options: WatchHubOptions,
  ) {}

  start(): void {
    this.pollTimer = setInterval(() => this.poll(), this.options.pollMs);
    this.pollTimer.unref();
  }

  stop(): void {
    clearInterval(this.pollTimer);
    for (const f of this.feedGroups()) f.dispose();
  }

  get watcherCount(): number {
    let n = 0;
    for (const g of [...this.sessions.values(), ...this.feedGroups()]) n += g.watchers.size;
    return n;
  }

  /** Watch one session from just after `afterSequence` (0: from its first event). */
  watchSession(tenantId: string, sessionId: string, afterSequence: number, sink: WatchSink): Watch {
    const key = `${tenantId}\u0000${sessionId}`;
    let group = this.sessions.get(key);
    if (!group) {
      group = new SessionGroup(this.log, tenantId, sessionId);
      this.sessions.set(key, group);
    }
    return this.attach(group, afterSequence, sink, () => this.sessions.delete(key));
  }

  /** Watch a tenant's whole feed as the scope sees it from just after `after`. */
  watchTenant(scope: ReadScope, after: FeedCursor, sink: WatchSink): Watch {
    const key = `${scope.tenantId}\u0000${scope.ownerId ?? ''}`;
    let group = this.feeds.get(key);
    if (!group) {
      group = new TenantFeedGroup(this.log, this.commits, scope, this.options.pollMs);
      this.feeds.set(key, group);
    }
    const feed = group;
    return this.attach(feed, after, sink, () => {
      feed.dispose();
      this.feeds.delete(key);
    });
  }

  /**
   * Watch one query's events in feed order from just after `after` (any sessions they are in, as the
   * scope sees them). `queryIds`: the ids its events are filed under (its UID, and its name, which
   * chunks carry).
   */
  watchQuery(scope: ReadScope, queryIds: readonly string[], after: FeedCursor, sink: WatchSink): Watch {
    const tenantId = scope.tenantId;
    const ids = [...new Set(queryIds)].sort();
    const key = [tenantId, ...ids, scope.ownerId ?? ''].join('\u0000');
    let group = this.queries.get(key);
    if (!group) {
      group = new TenantFeedGroup(this.log, this.commits, scope, this.options.pollMs, { queryIds: ids });
      this.queries.set(key, group);
      for (const id of ids) {
        const byQuery = this.queryGroups.get(`${tenantId}\u0000${id}`);
        if (byQuery) byQuery.add(group);
        else this.queryGroups.set(`${tenantId}\u0000${id}`, new Set([group]));
      }
    }
    const feed = group;
    return this.attach(feed, after, sink, () => {
      feed.dispose();
      this.queries.delete(key);
      for (const id of ids) {
        const byQuery = this.queryGroups.get(`${tenantId}\u0000${id}`);
        byQuery?.delete(feed);
        if (byQuery?.size === 0) this.queryGroups.delete(`${tenantId}\u0000${id}`);
      }
    });
  }

  /** Watch the events of one type (a custom topic) in feed order from just after `after`, as the scope sees them. */
  watchType(scope: ReadScope, type: string, after: FeedCursor, sink: WatchSink): Watch {
    const key = [scope.tenantId, type, scope.ownerId ?? ''].join('\u0000');
    let group = this.types.get(key);
    if (!group) {
      group = new TenantFeedGroup(this.log, this.commits, scope, this.options.pollMs, { type });
      this.types.set(key, group);
    }
    const feed = group;
    return this.attach(feed, after, sink, () => {
      feed.dispose();
      this.types.delete(key);
    });
  }

  /** Called with each wake-up as it arrives, before any group is woken (metrics). */
  onNotification(observer: (notification: AppendNotification, receivedAtMs: number) => void): void {
    this.notificationObservers.push(observer);
  }

  /** Events this process committed (a batch): each watched session's go straight to its watchers. */
  offer(events: readonly ArkEvent[]): void {
    if (this.sessions.size === 0 || events.length === 0) return;
    const bySession = new Map<string, ArkEvent[]>();
    for (const e of events) {
      const key = `${e.tenantId}\u0000${e.sessionId}`;
      if (!this.sessions.has(key)) continue;
      const list = bySession.get(key);
      if (list) list.push(e);
      else bySession.set(key, [e]);
    }
    // A batch's events of one session are in sequence order (ark_append_events hands them out in input order).
    for (const [key, list] of bySession) this.sessions.get(key)?.offer(list);
  }

  notify(notification: AppendNotification): void {
    const receivedAtMs = Date.now();
    for (const observe of this.notificationObservers) observe(notification, receivedAtMs);
    const tx = safeBigInt(notification.tx);
    // This commit may be the older transaction a feed is held back by, whichever sessions it wrote.
    this.commits.add(tx);
    for (const g of this.feedGroups()) g.wakeIfHeldBy(tx);
    if (notification.s) {
      const tenants = new Set<string>();
      for (const [tenantId, sessionId, lastSequence] of notification.s) {
        const group = this.sessions.get(`${tenantId}\u0000${sessionId}`);
        // Watchers this replica already handed the events to (offer) need no read.
        if (group && (typeof lastSequence !== 'number' || group.isBehind(lastSequence))) group.wake();
        tenants.add(tenantId);
      }
      for (const g of [...this.feeds.values(), ...this.types.values()]) if (tenants.has(g.tenantId)) this.wakeFeed(g, tx);
      if (notification.q) {
        for (const [tenantId, queryId] of notification.q) {
          for (const g of this.queryGroups.get(`${tenantId}\u0000${queryId}`) ?? []) this.wakeFeed(g, tx);
        }
      } else {
        for (const g of this.queries.values()) if (tenants.has(g.tenantId)) this.wakeFeed(g, tx);
      }
    } else if (notification.t) {
      const tenants = new Set(notification.t);
      for (const g of this.sessions.values()) if (tenants.has(g.tenantId)) g.wake();
      for (const g of this.feedGroups()) if (tenants.has(g.tenantId)) this.wakeFeed(g, tx);
    } else {
      for (const g of this.feedGroups()) this.wakeFeed(g, tx);
      for (const g of this.sessions.values()) g.wake();
    }
  }

  wakeAll(): void {
    for (const g of [...this.sessions.values(), ...this.feedGroups()]) g.wake();
  }

  private feedGroups(): TenantFeedGroup[] {
    return [...this.feeds.values(), ...this.queries.values(), ...this.types.values()];
  }

  private wakeFeed(feed: TenantFeedGroup | undefined, tx: bigint): void {
    if (!feed) return;
    if (tx > feed.notifiedTx) feed.notifiedTx = tx;
    feed.wake();
  }

  /**
   * The safety net: one query for the heads of every watched session (waking only groups behind),
   * and a read per tenant feed not read lately.
   */
  private poll(): void {
    const due = Date.now() - this.options.pollMs;
    for (const g of this.feedGroups()) if (g.lastReadAt < due) g.wake();
    const groups = [...this.sessions.values()];
    if (groups.length === 0 || this.polling) return;
    this.polling = true;
    this.log
      .streamHeads(groups.map((g) => ({ tenantId: g.tenantId, sessionId: g.sessionId })))
      .then((heads) => {
        for (const g of groups) {
          const head = heads.get(`${g.tenantId}\u0000${g.sessionId}`);
          if (head !== undefined && g.isBehind(head)) g.wake();
        }
      })
      .catch(() => undefined)
      .finally(() => (this.polling = false));
  }

  private attach<C>(group: WatchGroup<C>, cursor: C, sink: WatchSink, onEmpty: () => void): Watch {
    const watcher: Watcher<C> = { cursor, paused: false, sink };
    group.watchers.add(watcher);
    group.wake();
    return {
      resume: () => {
        if (!watcher.paused) return;
        watcher.paused = false;
        group.wake();
      },
      close: () => {
        group.watchers.delete(watcher);
        if (group.watchers.size === 0) onEmpty();
      },
    };
  }
}

function safeBigInt(text: string): bigint {
  try {
    return BigInt(text);
  } catch {
    return 0n;
  }
}
