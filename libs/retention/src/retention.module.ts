import { Global, Logger, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { DatabaseConnection } from '#ark/database';
import { EVENT_TTL_SOURCE, type EventTtlSource } from '#ark/event-store';
import { ChunkCompactionRepository } from './chunk-compaction.repository.js';
import { ChunkCompactor, type ChunkCompactorOptions } from './chunk-compactor.js';
import { RetentionPolicy, type EffectiveRetention } from './retention-policy.js';
import { RetentionRepository } from './retention.repository.js';
import { RowReaper, type RowReaperOptions } from './row-reaper.js';
import { TenantRetentionRepository } from './tenant-retention.repository.js';

export interface RetentionOptions {
  reaper: RowReaperOptions;
  compactor: ChunkCompactorOptions;
  /** The broker's MESSAGE_/EVENT_/SESSIONS_VISIBILITY_TTL_SECONDS, which a tenant's own setting overrides. */
  defaults: EffectiveRetention;
}

/** Starts the reaper and the compactor with the app and stops them before the database closes. */
class RetentionLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly reaper: RowReaper,
    private readonly compactor: ChunkCompactor,
  ) {}

  /** Awaited before the HTTP server listens (Nest runs it in `init`, before `listen`). */
  async onApplicationBootstrap(): Promise<void> {
    await this.reaper.preparePartitions();
    this.reaper.start();
    this.compactor.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([this.reaper.stop(), this.compactor.stop()]);
  }
}

@Global()
@Module({})
export class RetentionModule {
  static forRoot(options: RetentionOptions): DynamicModule {
    return {
      module: RetentionModule,
      providers: [
        { provide: RetentionRepository, inject: [DatabaseConnection], useFactory: (c: DatabaseConnection) => new RetentionRepository(c.db) },
        {
          provide: RetentionPolicy,
          inject: [DatabaseConnection],
          useFactory: (c: DatabaseConnection) => new RetentionPolicy(options.defaults, new TenantRetentionRepository(c.db)),
        },
        {
          provide: EVENT_TTL_SOURCE,
          inject: [RetentionPolicy],
          useFactory: (policy: RetentionPolicy): EventTtlSource => ({
            ttlsFor: async (tenantId) => {
              const e = await policy.effective(tenantId);
              return { messageSeconds: e.messageTtlSeconds, eventSeconds: e.eventTtlSeconds };
            },
          }),
        },
        {
          provide: RowReaper,
          inject: [RetentionRepository],
          useFactory: (repository: RetentionRepository) => {
            const logger = new Logger('RowReaper');
            return new RowReaper(repository, options.reaper, { info: (m) => logger.log(m), error: (m) => logger.error(m) });
          },
        },
        {
          provide: ChunkCompactor,
          inject: [DatabaseConnection],
          useFactory: (c: DatabaseConnection) => {
            const logger = new Logger('ChunkCompactor');
            return new ChunkCompactor(new ChunkCompactionRepository(c.db), options.compactor, {
              info: (m) => logger.log(m),
              error: (m) => logger.error(m),
            });
          },
        },
        {
          provide: RetentionLifecycle,
          inject: [RowReaper, ChunkCompactor],
          useFactory: (reaper: RowReaper, compactor: ChunkCompactor) => new RetentionLifecycle(reaper, compactor),
        },
      ],
      exports: [RowReaper, ChunkCompactor, RetentionRepository, RetentionPolicy, EVENT_TTL_SOURCE],
    };
  }
}
