import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { BrokerConfig, BrokerConfigModule } from '#ark/config';
import { DatabaseModule } from '#ark/database';
import { EventStoreModule } from '#ark/event-store';
import { ApiExceptionFilter } from '#ark/http';
import { ProjectionsModule } from '#ark/projections';
import { partitionOptions, RetentionModule } from '#ark/retention';
import { ShutdownModule } from '#ark/shutdown';
import { MemoryModule } from './compat/memory/memory.module.js';
import { OperationEventsModule } from './compat/operation-events/operation-events.module.js';
import { StreamModule } from './compat/stream/stream.module.js';
import { SessionsModule } from './compat/sessions/sessions.module.js';
import { TracesModule } from './compat/traces/traces.module.js';
import { A2aModule } from './a2a/a2a.module.js';
import { EventsModule } from './events/events.module.js';
import { ExecutionsModule } from './executions/executions.module.js';
import { McpModule } from './mcp/mcp.module.js';
import { RetentionApiModule } from './retention/retention.module.js';
import { SessionsV2Module } from './sessions-v2/sessions-v2.module.js';
import { HealthModule } from './health/health.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { WatchModule } from './watch/watch.module.js';

@Module({})
export class AppModule {
  static forRoot(config: BrokerConfig, databaseUrl: string): DynamicModule {
    return {
      module: AppModule,
      imports: [
        BrokerConfigModule.forRoot(config),
        ShutdownModule,
        DatabaseModule.forRoot({ url: databaseUrl, poolSize: config.DATABASE_POOL_SIZE }),
        RetentionModule.forRoot({
          reaper: {
            intervalSeconds: config.ROW_REAP_INTERVAL_SECONDS,
            batchSize: config.ROW_REAP_BATCH_SIZE,
            partitions: partitionOptions(config.PARTITION_WIDTH_DAYS, config.PARTITIONS_AHEAD_DAYS),
          },
          compactor: {
            intervalSeconds: config.CHUNK_COMPACTION_INTERVAL_SECONDS,
            delaySeconds: config.CHUNK_COMPACTION_DELAY_SECONDS,
            rawTtlSeconds: config.COMPACTED_CHUNK_TTL_SECONDS,
            batchSize: 100,
          },
          defaults: {
            messageTtlSeconds: config.MESSAGE_VISIBILITY_TTL_SECONDS,
            eventTtlSeconds: config.EVENT_VISIBILITY_TTL_SECONDS,
            sessionsTtlSeconds: config.SESSIONS_VISIBILITY_TTL_SECONDS,
          },
        }),
        ProjectionsModule.forRoot({ sessionsTtlSeconds: config.SESSIONS_VISIBILITY_TTL_SECONDS }),
        EventStoreModule.forRoot({
          pollMs: config.WATCH_POLL_MS,
          pageMaxBytes: config.READ_PAGE_MAX_BYTES,
          groupCommit: {
            windowMs: config.APPEND_BATCH_WINDOW_MS,
            maxBatchEvents: config.APPEND_MAX_BATCH_EVENTS,
            maxQueuedEvents: config.APPEND_MAX_QUEUED_EVENTS,
            maxInFlight: config.APPEND_MAX_IN_FLIGHT,
          },
          writeShare: { windowEvents: config.APPEND_FAIR_WINDOW_EVENTS, tenantMaxEvents: config.APPEND_TENANT_MAX_QUEUED_EVENTS },
        }),
        CqrsModule.forRoot(),
        HealthModule,
        MetricsModule,
        WatchModule,
        EventsModule,
        SessionsV2Module,
        ExecutionsModule,
        A2aModule,
        McpModule,
        RetentionApiModule,
        TracesModule,
        OperationEventsModule,
        SessionsModule,
        StreamModule,
        MemoryModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ApiExceptionFilter }],
    };
  }
}
