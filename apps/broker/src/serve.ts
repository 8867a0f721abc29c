import { Logger } from '@nestjs/common';
import { BROKER_VERSION, InvalidConfigError, loadBrokerConfig } from '#ark/config';
import { EmbeddedPostgresError, MigrationTimeoutError } from '#ark/database';
import { startTracing, TracingConfigError } from '#ark/tracing';
import { brokerLogger, startBroker, type RunningBroker } from './bootstrap.js';

/** Runs the broker until SIGTERM/SIGINT, then shuts down gracefully (streams told to reconnect, appends drained). */
export async function serveUntilSignalled(env: Record<string, string | undefined>): Promise<void> {
  // From the first line on, even before the configuration is read (a bad one is the first error an
  // operator sees): LOG_FORMAT=json gives JSON lines for every message, fatal ones included.
  Logger.overrideLogger(brokerLogger({ LOG_FORMAT: env.LOG_FORMAT === 'json' ? 'json' : 'text', LOG_LEVEL: env.LOG_LEVEL ?? 'info' }));
  const logger = new Logger('Broker');
  keepServingPastClientResets(logger);
  let stopTracing = async (): Promise<void> => undefined;
  let broker: RunningBroker | undefined;
  let graceMs = 0;
  let stopping = false;
  // A signal that comes while the broker starts (it may already answer /readyz) is kept and acted
  // on once it has started, rather than ending the process with the signal's default action.
  let signalledDuringStart: string | undefined;
  const stop = (signal: string) => {
    if (!broker) {
      signalledDuringStart ??= signal;
      return;
    }
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
  if (signalledDuringStart) stop(signalledDuringStart);
}

/** Errors of one client's connection. */
const CONNECTION_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * A client that resets its connection must not stop the service for every other caller: a
 * rejection of that kind that nothing awaited is logged with its stack (a bug to fix where it comes
 * from) and the broker goes on; any other unhandled rejection still ends the process, as Node would.
 */
function keepServingPastClientResets(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    const code = (reason as NodeJS.ErrnoException | null)?.code;
    if (code === undefined || !CONNECTION_ERRORS.has(code)) throw reason;
    logger.error(`a client connection failed where nothing awaited it; serving on: ${(reason as Error).stack ?? String(reason)}`);
  });
}
