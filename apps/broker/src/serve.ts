import { Logger } from '@nestjs/common';
import { InvalidConfigError, loadBrokerConfig } from '#ark/config';
import { EmbeddedPostgresError } from '#ark/database';
import { startTracing } from '#ark/tracing';
import { startBroker } from './bootstrap.js';

/** Runs the broker until SIGTERM/SIGINT, then shuts down gracefully (streams told to reconnect, appends drained). */
export async function serveUntilSignalled(env: Record<string, string | undefined>): Promise<void> {
  const logger = new Logger('Broker');
  const stopTracing = startTracing(env);
  let broker;
  let graceMs: number;
  try {
    const config = loadBrokerConfig(env);
    graceMs = config.SHUTDOWN_GRACE_MS;
    broker = await startBroker(config);
  } catch (error) {
    logger.error(error instanceof InvalidConfigError || error instanceof EmbeddedPostgresError ? error.message : ((error as Error).stack ?? String(error)));
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
