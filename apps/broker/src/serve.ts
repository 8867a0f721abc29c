import { Logger } from '@nestjs/common';
import { BROKER_VERSION, InvalidConfigError, loadBrokerConfig } from '#ark/config';
import { EmbeddedPostgresError, MigrationTimeoutError } from '#ark/database';
import { startTracing, TracingConfigError } from '#ark/tracing';
import { brokerLogger, startBroker } from './bootstrap.js';

/** Runs the broker until SIGTERM/SIGINT, then shuts down gracefully (streams told to reconnect, appends drained). */
export async function serveUntilSignalled(env: Record<string, string | undefined>): Promise<void> {
  // From the first line on, even before the configuration is read (a bad one is the first error an
  // operator sees): LOG_FORMAT=json gives JSON lines for every message, fatal ones included.
  Logger.overrideLogger(brokerLogger({ LOG_FORMAT: env.LOG_FORMAT === 'json' ? 'json' : 'text', LOG_LEVEL: env.LOG_LEVEL ?? 'info' }));
  const logger = new Logger('Broker');
  let stopTracing = async (): Promise<void> => undefined;
  let broker;
  let graceMs: number;
  try {
    stopTracing = startTracing(env, BROKER_VERSION);
    const config = loadBrokerConfig(env);
    graceMs = config.SHUTDOWN_GRACE_MS;
    broker = await startBroker(config);
  } catch (error) {
    const known =
      error instanceof InvalidConfigError ||
      error instanceof EmbeddedPostgresError ||
      error instanceof MigrationTimeoutError ||
      error instanceof TracingConfigError;
    logger.fatal(known ? error.message : ((error as Error).stack ?? String(error)));
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down (grace ${graceMs} ms)`);
    // Past the grace period connections are cut; this only catches a close that hangs after that.
    setTimeout(() => {
      logger.error('shutdown did not finish: exiting');
      process.exit(1);
    }, graceMs + 10_000).unref();
    broker
      .close()
      .then(() => stopTracing().catch(() => undefined))
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error(`shutdown failed: ${String(error)}`);
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
