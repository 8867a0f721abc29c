import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BROKER_VERSION, BrokerConfig } from '#ark/config';
import { DatabaseConnection } from '#ark/database';
import { EventListenerStatus, EventWatchHub, GroupCommitWriter } from '#ark/event-store';
import { LOCAL_IDENTITY, type CallerIdentity } from '#ark/tenancy';
import type { TenantReadShare } from '../tenant-read-share.js';
import { WatchStreamService } from '../watch/watch-stream.service.js';
import { DatabaseCountsReader, type QueueCounts, type UpstreamCounts } from './database-counts.js';

/**
 * The broker's Prometheus metrics: HTTP requests per route, append batches (size, latency), the write
 * queue, open watchers, notification and delivery lag, the LISTEN connection and the database pool,
 * reads waiting for their tenant's share, the executors' work queue by phase,
 * plus Node's defaults (unprefixed), `ark_broker_build_info`, and upstream ark-broker's `broker_*_count` gauges. There is no projection-lag metric: read models are written in the append
 * transaction, so they are never behind the log.
 * Route labels are Fastify's route patterns, never raw URLs, so cardinality stays bounded.
 */
@Injectable()
export class BrokerMetrics implements OnModuleInit {
  readonly registry = new Registry();
  /** The read share the HTTP hooks apply (made with them in bootstrap). */
  private readShare: TenantReadShare | undefined;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly writer: GroupCommitWriter,
    private readonly hub: EventWatchHub,
    private readonly listener: EventListenerStatus,
    private readonly database: DatabaseConnection,
    private readonly streams: WatchStreamService,
    private readonly config: BrokerConfig,
    private readonly counts: DatabaseCountsReader,
  ) {}

  onModuleInit(): void {
    const registers = [this.registry];
    // Node's defaults under their standard names (process_*, nodejs_*), as stock dashboards and
    // upstream's broker expect them.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'ark_broker_build_info',
      help: 'Always 1; the labels say what runs: the broker version, the Node version',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: BROKER_VERSION, node_version: process.version }, 1);

    const requests = new Counter({
      name: 'ark_broker_http_requests_total',
      help: 'HTTP requests answered',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    const duration = new Histogram({
      name: 'ark_broker_http_request_duration_seconds',
      help: 'Time to answer (to the response head for streams)',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    // Writes per route and outcome: accepted, refused (4xx: bad input, auth, 429) and failed (5xx).
    // /metrics answers anyone, so tenant ids are a label only when METRICS_TENANT_LABEL says so (a
    // deployment's customers: tens, not millions, so the label stays bounded).
    const byTenant = this.config.METRICS_TENANT_LABEL;
    const ingest = new Counter({
      name: 'ark_broker_ingest_requests_total',
      help: `Write requests (POST, PUT, DELETE) answered, per route${byTenant ? ', tenant' : ''} and outcome`,
      labelNames: byTenant ? ['route', 'tenant', 'outcome'] : ['route', 'outcome'],
      registers,
    });
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      requests.inc({ method: request.method, route, status: String(reply.statusCode) });
      duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
      if (request.method === 'POST' || request.method === 'PUT' || request.method === 'DELETE') {
        const outcome = reply.statusCode >= 500 ? 'error' : reply.statusCode >= 400 ? 'refused' : 'accepted';
        if (byTenant) {
          // No identity: AUTH_MODE=none (the one local tenant), or the request failed authentication.
          const identity = (request as { identity?: CallerIdentity }).identity ?? (this.config.AUTH_MODE === 'none' ? LOCAL_IDENTITY : undefined);
          ingest.inc({ route, tenant: identity?.tenantId ?? 'unauthenticated', outcome });
        } else {
          ingest.inc({ route, outcome });
        }
      }
      done();
    });

    const batchEvents = new Histogram({
      name: 'ark_broker_append_batch_events',
      help: 'Events per group-commit transaction',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers,
    });
    const batchRequests = new Histogram({
      name: 'ark_broker_append_batch_requests',
      help: 'Append calls per group-commit transaction',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    const batchSeconds = new Histogram({
      name: 'ark_broker_append_batch_seconds',
      help: 'Duration of a group-commit transaction',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    const appended = new Counter({ name: 'ark_broker_events_appended_total', help: 'Events committed to the log', registers });
    this.writer.onBatchCommitted((batch) => {
      batchEvents.observe(batch.events);
      batchRequests.observe(batch.requests);
      batchSeconds.observe(batch.seconds);
      appended.inc(batch.events);
    });

    // Both lags compare the database server's clock with this process's; they include any skew
    // between the two (negative readings, from a clock behind the server's, count as 0).
    const lagBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
    const notificationLag = new Histogram({
      name: 'ark_broker_notification_lag_seconds',
      help: 'From an appending transaction queuing its NOTIFY to this replica receiving it (the rest of the transaction, its commit and delivery)',
      buckets: lagBuckets,
      registers,
    });
    this.hub.onNotification((notification, receivedAtMs) => {
      if (typeof notification.at === 'number') notificationLag.observe(Math.max(0, receivedAtMs - notification.at) / 1000);
    });
    const deliveryLag = new Histogram({
      name: 'ark_broker_watch_delivery_lag_seconds',
      help: "From an event's append transaction starting (its recorded_at) to the event being written to a watch stream",
      buckets: lagBuckets,
      registers,
    });
    this.streams.onDelivered((event) => deliveryLag.observe(Math.max(0, Date.now() - event.recordedAt.getTime()) / 1000));

    new Gauge({
      name: 'ark_broker_write_queue_events',
      help: 'Events waiting for a group-commit transaction',
      registers,
      collect: gaugeOf(() => this.writer.queuedEventCount),
    });
    new Gauge({
      name: 'ark_broker_read_share_waiting',
      help: "API reads waiting for their tenant's turn (READ_TENANT_MAX_CONCURRENT), every tenant together",
      registers,
      collect: gaugeOf(() => this.readShare?.waitingCount ?? 0),
    });
    new Gauge({ name: 'ark_broker_watchers', help: 'Open watch streams', registers, collect: gaugeOf(() => this.hub.watcherCount) });
    new Gauge({
      name: 'ark_broker_sse_buffered_bytes',
      help: 'Bytes written to SSE streams and not yet sent (slow clients)',
      registers,
      collect: gaugeOf(() => this.streams.bufferedBytes),
    });
    new Gauge({
      name: 'ark_broker_listener_connected',
      help: '1 while the LISTEN connection is up',
      registers,
      collect: gaugeOf(() => (this.listener.connected ? 1 : 0)),
    });
    const pool = this.database.pool;
    new Gauge({ name: 'ark_broker_db_pool_connections', help: 'Connections in the pool', registers, collect: gaugeOf(() => pool.totalCount) });
    new Gauge({ name: 'ark_broker_db_pool_idle', help: 'Idle connections in the pool', registers, collect: gaugeOf(() => pool.idleCount) });
    new Gauge({ name: 'ark_broker_db_pool_waiting', help: 'Queries waiting for a connection', registers, collect: gaugeOf(() => pool.waitingCount) });
    this.registerUpstreamGauges();
    this.registerQueueGauge();
  }

  /**
   * Upstream's gauges under upstream's names (ark PR #3093), so its dashboards and alerts keep
   * working: totals of the whole database, without labels (no per-tenant or per-session series).
   */
  private registerUpstreamGauges(): void {
    const gauges: [string, string, keyof UpstreamCounts][] = [
      ['broker_messages_count', 'Memory messages held (the messages read model)', 'messages'],
      ['broker_chunks_count', 'Completion-stream events (chunks, completions, approvals) in the log', 'chunks'],
      ['broker_spans_count', 'OTLP spans in the log', 'spans'],
      ['broker_events_count', 'Operation events in the log', 'operation_events'],
      ['broker_sessions_count', 'Sessions with queries (the upstream sessions view)', 'sessions'],
      ['broker_session_queries_count', 'Queries held across the upstream sessions view', 'session_queries'],
    ];
    const counts = this.counts;
    for (const [name, help, field] of gauges) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect(this: Gauge) {
          const read = await counts.read();
          if (read) this.set(Number(read[field]));
        },
      });
    }
  }

  observeReadShare(share: TenantReadShare): void {
    this.readShare = share;
  }

  /** The executors' work queue (docs/executors.md): queries by phase across tenants, from the same cached reading. */
  private registerQueueGauge(): void {
    const counts = this.counts;
    const phases: (keyof QueueCounts)[] = ['pending', 'assigned', 'running'];
    new Gauge({
      name: 'ark_broker_query_executions',
      help: "Queries in the executors' work queue by phase, all tenants (read at most every 30 s)",
      labelNames: ['phase'],
      registers: [this.registry],
      async collect(this: Gauge) {
        const read = await counts.read();
        if (read) for (const phase of phases) this.set({ phase }, Number(read[phase]));
      },
    });
  }
}

function gaugeOf(read: () => number) {
  return function (this: Gauge) {
    this.set(read());
  };
}
