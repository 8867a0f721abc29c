import 'reflect-metadata';
import { Logger, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { type BrokerConfig } from '#ark/config';
import { createPool, DatabaseConnection, migrate, MigrationTimeoutError, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '#ark/database';
import { requestIdFor } from '#ark/http';
import { ShutdownSignal } from '#ark/shutdown';
import { startRequestSpan } from '#ark/tracing';
import { registerViewer } from '#ark/viewer';
import { AppModule } from './app.module.js';
import { openApiDocument } from './openapi/openapi-document.js';
import { registerAuthentication } from './authentication.js';
import { registerReadShare, TenantReadShare } from './tenant-read-share.js';
import { BrokerMetrics } from './metrics/broker-metrics.js';
import { registerBodyParsers } from './body-parsers.js';
import { frameworkErrorOptions } from './framework-errors.js';
import { registerHardening } from './http-hardening.js';
import { JsonLogger } from './json-logger.js';
import { registerAccessLog } from './access-log.js';

const LOG_LEVELS: Record<string, LogLevel[]> = {
  silent: [],
  fatal: ['fatal'],
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  trace: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/** The process's logger: pino JSON lines with LOG_FORMAT=json, else Nest's text logger at LOG_LEVEL. */
export function brokerLogger(config: Pick<BrokerConfig, 'LOG_FORMAT' | 'LOG_LEVEL'>): LoggerService | LogLevel[] {
  const level = config.LOG_LEVEL in LOG_LEVELS ? config.LOG_LEVEL : 'info';
  return config.LOG_FORMAT === 'json' ? new JsonLogger(level) : LOG_LEVELS[level]!;
}

export interface DatabaseTarget {
  url: string;
  /** Where migrations and the CLI's owner commands log in: MIGRATE_DATABASE_URL, else `url`. */
  ownerUrl: string;
  /** Set when the broker started the embedded PostgreSQL itself. */
  embedded?: EmbeddedPostgresHandle;
}

/** DATABASE_URL when given, else the embedded PostgreSQL under EMBEDDED_PG_DIR. */
export async function resolveDatabase(config: BrokerConfig, logger = new Logger('Database')): Promise<DatabaseTarget> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, ownerUrl: config.MIGRATE_DATABASE_URL ?? config.DATABASE_URL };
  logger.log(`DATABASE_URL is not set: starting embedded PostgreSQL in ${config.EMBEDDED_PG_DIR} (port ${config.EMBEDDED_PG_PORT})`);
  const embedded = await startEmbeddedPostgres({
    dataDir: config.EMBEDDED_PG_DIR,
    port: config.EMBEDDED_PG_PORT,
    notice: (line) => logger.log(line),
  });
  return { url: embedded.url, ownerUrl: embedded.url, embedded };
}

/**
 * Start-up migration (MIGRATE_ON_START), within MIGRATE_ON_START_TIMEOUT_MS: a migration that would
 * take longer fails start-up with a message saying how to apply it instead, rather than being killed
 * by a start-up probe and retried by every restart.
 */
export async function migrateDatabase(url: string, timeoutMs = 0, logger = new Logger('Migrations')): Promise<void> {
  const pool = createPool({ connectionString: url, max: 1, applicationName: 'ark-broker-migrate-on-start' });
  try {
    await migrate(pool, undefined, { log: (line) => logger.log(line), timeoutMs });
  } catch (error) {
    if (!(error instanceof MigrationTimeoutError)) throw error;
    throw new MigrationTimeoutError(
      `start-up migration stopped: ${error.message} (MIGRATE_ON_START_TIMEOUT_MS=${timeoutMs}). Apply it without a time limit with ` +
        '`ark-broker migrate` (the Helm chart: migrations.mode=job, or the pre-upgrade Job of mode auto), then start the broker again.',
      { cause: error },
    );
  } finally {
    await pool.end();
  }
}

/** Builds the HTTP application (not yet listening). */
export async function createBrokerApp(config: BrokerConfig, databaseUrl: string): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    genReqId: requestIdFor,
    // Long chunk uploads and watch streams must not be cut by a server-side request timeout.
    requestTimeout: 0,
    return503OnClosing: true,
    ...frameworkErrorOptions(),
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, databaseUrl), adapter, {
    logger: brokerLogger(config),
    // Body parsing is ours (registerBodyParsers): Nest's would replace the JSON parser.
    bodyParser: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  registerBodyParsers(fastify);
  registerAccessLog(fastify, config);
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.raw.setHeader('X-Request-ID', String(request.id));
    done();
  });
  // The broker's own request spans (when OTEL_EXPORTER_OTLP_ENDPOINT is set): the rest of the
  // request runs in the span's context, which ends when the response does (streams included).
  fastify.addHook('onRequest', (request, reply, done) => {
    const end = startRequestSpan({ method: request.method, route: request.routeOptions.url, headers: request.headers }, done);
    if (end) reply.raw.once('close', () => end(reply.raw.statusCode));
  });
  const shutdown = app.get(ShutdownSignal);
  // While draining, every answer closes its connection, so keep-alive clients reconnect elsewhere
  // and the server's close is not held open by idle connections.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (shutdown.draining) void reply.header('connection', 'close');
    done(null, payload);
  });
  // Secure headers and CORS first: a 401/403 carries the headers too, and a CORS preflight (which
  // carries no credentials) is answered before authentication.
  await registerHardening(app, config);
  registerAuthentication(fastify, config, app.get(DatabaseConnection).db);
  const readShare = new TenantReadShare({ maxConcurrent: config.READ_TENANT_MAX_CONCURRENT, maxQueued: config.READ_TENANT_MAX_QUEUED });
  registerReadShare(fastify, readShare);
  app.get(BrokerMetrics).observeReadShare(readShare);

  SwaggerModule.setup('api-docs', app, openApiDocument(app), { jsonDocumentUrl: 'openapi.json' });
  await registerViewer(fastify);
  return app;
}

export interface RunningBroker {
  app: NestFastifyApplication;
  url: string;
  close(): Promise<void>;
}

/** Everything `serve` does: database, migrations, HTTP. */
export async function startBroker(config: BrokerConfig): Promise<RunningBroker> {
  // Before anything logs: start-up messages (database, migrations) honour LOG_LEVEL too.
  Logger.overrideLogger(brokerLogger(config));
  const logger = new Logger('Broker');
  const database = await resolveDatabase(config);
  if (config.MIGRATE_ON_START) await migrateDatabase(database.ownerUrl, config.MIGRATE_ON_START_TIMEOUT_MS);
  const app = await createBrokerApp(config, database.url);
  await app.listen({ port: config.PORT, host: config.HOST });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${port}`;
  if (config.DATABASE_URL && (await loginIsPrivileged(app.get(DatabaseConnection)))) {
    logger.warn(
      'DATABASE_URL logs in as a superuser (or a role that bypasses row-level security): give `serve` a login that is only a member of ark_broker_app, and run `ark-broker migrate` as the owner (README, Database roles)',
    );
  }
  if (config.AUTH_MODE === 'none') {
    logger.warn('AUTH_MODE=none: NO AUTHENTICATION. Every caller is user "anonymous" of tenant "default" with every role. Local use only.');
  }
  logger.log(`listening on ${url} (AUTH_MODE=${config.AUTH_MODE})`);
  return {
    app,
    url,
    close: async () => {
      await drainConnections(app, config.SHUTDOWN_GRACE_MS, logger);
      await app.close();
      await database.embedded?.stop();
    },
  };
}

/** Whether the pool's login user (not the role it works as) is a superuser or bypasses row-level security. */
async function loginIsPrivileged(connection: DatabaseConnection): Promise<boolean> {
  const { rows } = await connection.pool.query<{ privileged: boolean }>(
    'SELECT rolsuper OR rolbypassrls AS privileged FROM pg_roles WHERE rolname = session_user',
  );
  return rows[0]?.privileged ?? false;
}

/**
 * The first half of a graceful shutdown: readiness turns 503, the listening socket closes (idle
 * keep-alive connections with it), SSE streams end with their connections (clients resume by id on
 * another replica), chunk uploads stop reading, commit what they read and answer; then it waits for
 * every in-flight request to be answered, at most `graceMs`, and cuts what is left. `app.close()`
 * then drains the write queue and closes the pool.
 */
async function drainConnections(app: NestFastifyApplication, graceMs: number, logger: Logger): Promise<void> {
  const server = app.getHttpServer();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  app.get(ShutdownSignal).begin();
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
  clearTimeout(timer);
  if (!inTime) {
    logger.warn(`requests still open after SHUTDOWN_GRACE_MS=${graceMs}: closing their connections`);
    server.closeAllConnections();
    await closed;
  }
}
