/**
 * A minimal executor process on the SDK, for tests that need many executor processes without the
 * sample's LLM round trips: each query is answered `{ echo: input, by: executorId }` at once.
 *
 *   BROKER_URL (comma-separated: replicas), BROKER_TOKEN, EXECUTOR_ID, EXECUTOR_NAMESPACES (comma-separated),
 *   EXECUTOR_CONCURRENCY (default 4), EXECUTOR_LEASE_SECONDS (default 30), EXECUTOR_WAIT_SECONDS (default 5)
 */
import { QueryExecutor } from '#ark/executor-sdk';

const env = process.env;
const executorId = env.EXECUTOR_ID ?? `echo-${process.pid}`;
const executor = new QueryExecutor(
  {
    url: (env.BROKER_URL ?? 'http://127.0.0.1:8080').split(','),
    executorId,
    ...(env.BROKER_TOKEN ? { token: env.BROKER_TOKEN } : {}),
    ...(env.EXECUTOR_NAMESPACES ? { namespaces: env.EXECUTOR_NAMESPACES.split(',') } : {}),
    concurrency: Number(env.EXECUTOR_CONCURRENCY ?? 4),
    leaseSeconds: Number(env.EXECUTOR_LEASE_SECONDS ?? 30),
    waitSeconds: Number(env.EXECUTOR_WAIT_SECONDS ?? 5),
    // Quick retries: a test kills replicas and expects the executors back within seconds.
    backoff: { minMs: 50, maxMs: 1_000 },
    log: (message) => console.error(message),
  },
  async ({ query }) => ({ echo: query.input, by: executorId }),
);
executor.start();
process.once('SIGTERM', () => void executor.stop().then(() => process.exit(0)));
