import { Global, Logger, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DatabaseConnection } from '#ark/database';
import { EVENT_TTL_SOURCE, EventAppender, type EventTtlSource } from './event-appender.js';
import { EventLogRepository } from './event-log.repository.js';
import { EventNotificationListener, type ChannelSubscriber } from './event-notification-listener.js';
import { EventWatchHub } from './event-watch-hub.js';
import { GroupCommitWriter, type GroupCommitOptions } from './group-commit-writer.js';
import { TenantWriteShare, type TenantWriteShareOptions } from './tenant-write-share.js';
import { INLINE_PROJECTORS, type InlineProjector } from './inline-projector.js';
import { WORK_STEP_RESOLVER, type WorkStepResolver } from './work-step-resolver.js';

export interface EventStoreOptions {
  groupCommit: GroupCommitOptions;
  /** Each tenant's fair share of the writer. */
  writeShare: TenantWriteShareOptions;
  /** Safety-net poll interval of watchers, ms. */
  pollMs: number;
  /** What one read page (a list page, a watcher's read) may hold of events' JSON, bytes. */
  pageMaxBytes: number;
}

/** Starts the LISTEN connection and the watch hub with the app, and stops them (after the writer drains). */
class EventStoreLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('EventStore');
  readonly listener: EventNotificationListener;

  constructor(
    connection: DatabaseConnection,
    private readonly hub: EventWatchHub,
    private readonly writer: GroupCommitWriter,
  ) {
    this.listener = new EventNotificationListener(
      connection.options.url,
      { onNotification: (n) => hub.notify(n), onConnected: () => hub.wakeAll() },
      (message) => this.logger.warn(message),
    );
    // This replica's own commits reach its session watchers at once; the NOTIFY then finds them there.
    writer.onBatchCommitted((batch) => hub.offer(batch.appended));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.hub.start();
    await this.listener.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.writer.drain();
    this.hub.stop();
    await this.listener.stop();
  }
}

/** Public face of the lifecycle for readiness checks. */
export class EventListenerStatus {
  constructor(private readonly lifecycle: EventStoreLifecycle) {}
  get connected(): boolean {
    return this.lifecycle.listener.connected;
  }
}

/** Lets a feature listen on a NOTIFY channel of its own through the process's one LISTEN connection. */
export class NotificationChannels {
  constructor(private readonly lifecycle: EventStoreLifecycle) {}
  listen(channel: string, subscriber: ChannelSubscriber): void {
    this.lifecycle.listener.listen(channel, subscriber);
  }
}

@Global()
@Module({})
export class EventStoreModule {
  static forRoot(options: EventStoreOptions): DynamicModule {
    return {
      module: EventStoreModule,
      providers: [
        {
          provide: EventLogRepository,
          inject: [DatabaseConnection],
          useFactory: (c: DatabaseConnection) => new EventLogRepository(c.db, options.pageMaxBytes, c.genericPlans),
        },
        {
          provide: GroupCommitWriter,
          inject: [DatabaseConnection, EventLogRepository, { token: INLINE_PROJECTORS, optional: true }, { token: WORK_STEP_RESOLVER, optional: true }],
          useFactory: (c: DatabaseConnection, log: EventLogRepository, projectors?: InlineProjector[], steps?: WorkStepResolver) =>
            new GroupCommitWriter(c.db, log, projectors ?? [], options.groupCommit, steps ?? null),
        },
        {
          provide: EventAppender,
          inject: [GroupCommitWriter, EVENT_TTL_SOURCE],
          useFactory: (w: GroupCommitWriter, ttls: EventTtlSource) => new EventAppender(w, ttls, new TenantWriteShare(options.writeShare)),
        },
        {
          provide: EventWatchHub,
          inject: [EventLogRepository],
          useFactory: (log: EventLogRepository) => new EventWatchHub(log, { pollMs: options.pollMs }),
        },
        {
          provide: EventStoreLifecycle,
          inject: [DatabaseConnection, EventWatchHub, GroupCommitWriter],
          useFactory: (c: DatabaseConnection, hub: EventWatchHub, w: GroupCommitWriter) => new EventStoreLifecycle(c, hub, w),
        },
        { provide: EventListenerStatus, inject: [EventStoreLifecycle], useFactory: (l: EventStoreLifecycle) => new EventListenerStatus(l) },
        { provide: NotificationChannels, inject: [EventStoreLifecycle], useFactory: (l: EventStoreLifecycle) => new NotificationChannels(l) },
      ],
      exports: [EventLogRepository, EventAppender, GroupCommitWriter, EventWatchHub, EventListenerStatus, NotificationChannels],
    };
  }
}
