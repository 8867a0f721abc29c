import { createClient } from '#ark/database';
import type pg from 'pg';
import { EVENTS_CHANNEL, type AppendNotification } from './event-log.repository.js';

export interface NotificationHandlers {
  onNotification(notification: AppendNotification): void;
  /** The connection was (re)established: anything may have been missed while it was down. */
  onConnected(): void;
}

/** Someone else listening on the process's one LISTEN connection, on a channel of their own. */
export interface ChannelSubscriber {
  onNotification(payload: string): void;
  /** The connection was (re)established: anything sent meanwhile was missed. */
  onConnected(): void;
}

/**
 * The process's one LISTEN connection. It reconnects by itself with backoff; after each (re)connect
 * the handlers are told, so every watcher catches up from its own cursor.
 */
export class EventNotificationListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private backoffMs = 50;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Clients already given up on; their later 'error'/'end' change nothing. */
  private readonly retired = new WeakSet<pg.Client>();
  connected = false;
  /** Channels besides the event log's (e.g. the query queue's wake-ups), each with its subscribers. */
  private readonly channels = new Map<string, ChannelSubscriber[]>();

  constructor(
    private readonly connectionString: string,
    private readonly handlers: NotificationHandlers,
    private readonly log: (message: string) => void,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    this.connected = false;
    await client?.end().catch(() => undefined);
  }

  /**
   * Also listen on `channel` (a lower-case SQL identifier) on this same connection, now and after
   * every reconnect: features woken by their own NOTIFY share the process's one listener.
   */
  listen(channel: string, subscriber: ChannelSubscriber): void {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel) || channel === EVENTS_CHANNEL) throw new Error(`cannot listen on channel ${JSON.stringify(channel)}`);
    const subscribers = this.channels.get(channel);
    if (subscribers) {
      subscribers.push(subscriber);
      return;
    }
    this.channels.set(channel, [subscriber]);
    // Subscribed after the connection came up: LISTEN now (a reconnect LISTENs every channel anyway).
    if (this.client && this.connected) void this.client.query(`LISTEN ${channel}`).catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = createClient(this.connectionString, 'ark-broker-listener');
    client.on('notification', (message) => {
      if (message.channel !== EVENTS_CHANNEL) {
        for (const subscriber of this.channels.get(message.channel) ?? []) subscriber.onNotification(message.payload ?? '');
        return;
      }
      if (!message.payload) return;
      try {
        this.handlers.onNotification(JSON.parse(message.payload) as AppendNotification);
      } catch {
        this.handlers.onNotification({ tx: '0' });
      }
    });
    // A connection's death is reported by 'error' and/or 'end', in either order, possibly late: the
    // no-op listener stays for the client's whole life so a late 'error' can never go unhandled.
    client.on('error', () => undefined);
    client.once('error', () => this.lost(client));
    client.once('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query([EVENTS_CHANNEL, ...this.channels.keys()].map((c) => `LISTEN ${c};`).join(' '));
    } catch (error) {
      this.log(`event listener could not connect: ${(error as Error).message}`);
      this.lost(client);
      return;
    }
    if (this.stopped) {
      // Stopped while this reconnect was under way: do not leave it open.
      this.retired.add(client);
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.connected = true;
    this.backoffMs = 50;
    this.handlers.onConnected();
    for (const subscribers of this.channels.values()) for (const s of subscribers) s.onConnected();
  }

  private lost(client: pg.Client): void {
    if (this.client === client) {
      this.client = undefined;
      this.connected = false;
      this.log('event listener connection lost; reconnecting');
    }
    if (this.retired.has(client)) return;
    this.retired.add(client);
    void client.end().catch(() => undefined);
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopped) void this.connect();
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
  }
}
