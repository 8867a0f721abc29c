import { Global, Logger, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { DatabaseConnection } from '#ark/database';
import { RetentionRepository } from './retention.repository.js';
import { RowReaper, type RowReaperOptions } from './row-reaper.js';

/** Starts the reaper with the app and stops it before the database closes. */
class RowReaperLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(private readonly reaper: RowReaper) {}

  onApplicationBootstrap(): void {
    this.reaper.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.reaper.stop();
  }
}

@Global()
@Module({})
export class RetentionModule {
  static forRoot(options: RowReaperOptions): DynamicModule {
    return {
      module: RetentionModule,
      providers: [
        { provide: RetentionRepository, inject: [DatabaseConnection], useFactory: (c: DatabaseConnection) => new RetentionRepository(c.db) },
        {
          provide: RowReaper,
          inject: [RetentionRepository],
          useFactory: (repository: RetentionRepository) => {
            const logger = new Logger('RowReaper');
            return new RowReaper(repository, options, { info: (m) => logger.log(m), error: (m) => logger.error(m) });
          },
        },
        { provide: RowReaperLifecycle, inject: [RowReaper], useFactory: (reaper: RowReaper) => new RowReaperLifecycle(reaper) },
      ],
      exports: [RowReaper, RetentionRepository],
    };
  }
}
