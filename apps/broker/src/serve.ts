import { Logger } from '@nestjs/common';
import { InvalidConfigError, loadBrokerConfig } from '#ark/config';
import { startBroker } from './bootstrap.js';

/** Runs the broker until SIGTERM/SIGINT, then shuts down gracefully (streams told to reconnect, appends drained). */
export async function serveUntilSignalled(env: Record<string, string | undefined>): Promise<void> {
  const logger = new Logger('Broker');
  let broker;
  try {
    broker = await startBroker(loadBrokerConfig(env));
  } catch (error) {
    logger.error(error instanceof InvalidConfigError ? error.message : ((error as Error).stack ?? String(error)));
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down`);
    broker
      .close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error(`shutdown failed: ${String(error)}`);
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
