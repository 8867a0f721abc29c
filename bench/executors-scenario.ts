import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerClient } from './broker-client.js';
import { claimLoop, FILL_CONCURRENCY, fillQueue, IDLE_GAP_MS, QUEUED_PER_SECOND_OF_RUN } from './claim-loop.js';
import { excerpt } from './closed-loop.js';
import { RunNotes, type MetricDefinition, type RunContext, type RunResult, type Scenario } from './scenario.js';
import { summarizeLatencies } from './stats.js';

export const EXECUTOR_METRICS: readonly MetricDefinition[] = [
  { key: 'claimsPerSecond', label: 'claims/s', aggregate: 'median', decimals: 0 },
  { key: 'latencyP50Ms', label: 'p50 ms', aggregate: 'median', decimals: 2 },
  { key: 'latencyP95Ms', label: 'p95 ms', aggregate: 'median', decimals: 2 },
  { key: 'latencyP99Ms', label: 'p99 ms', aggregate: 'median', decimals: 2 },
  { key: 'samples', label: 'samples', aggregate: 'median', decimals: 0 },
  { key: 'submitsPerSecond', label: 'submits/s (filling)', aggregate: 'median', decimals: 0 },
  { key: 'failures', label: 'failures', aggregate: 'total', decimals: 0 },
  { key: 'doubleClaims', label: 'claimed twice', aggregate: 'total', decimals: 0 },
];

const submitBody = (namespace: string, session: string) =>
  JSON.stringify({
    queryId: randomUUID(),
    name: 'bench-query',
    namespace,
    sessionId: session,
    target: { type: 'agent', name: 'weather-agent' },
    input: 'What is the weather in Paris?',
  });

/**
 * `executors-latency`: one executor long-polls (`waitSeconds` 30) for its namespace; a producer
 * submits a query once the executor waits idle, and the time from sending the submit to the
 * executor reading the claim's answer is one sample: submit commit, NOTIFY, wake-up, claim.
 */
export function executorLatencyScenario(): Scenario {
  return { name: 'executors-latency', requires: ['v2'], run: runLatency };
}

async function runLatency(context: RunContext): Promise<RunResult> {
  const namespace = `${context.sessionPrefix}-latency`;
  const producer = new BrokerClient(context.baseUrl, 1);
  const executor = new BrokerClient(context.baseUrl, 1);
  const notes = new RunNotes();
  const latencies: number[] = [];
  let failures = 0;
  const deadline = performance.now() + context.durationMs;
  try {
    while (performance.now() < deadline) {
      // Timed when the claim's answer is read, not when the submit's answer is: the submit answers
      // once its own event is appended, which can come after the claim.
      const claiming = executor
        .post('/v2/executors/bench-idle/claims', JSON.stringify({ max: 1, waitSeconds: 30, leaseSeconds: 3600, namespaces: [namespace] }), 'application/json')
        .then((answer) => ({ answer, received: performance.now() }));
      await sleep(IDLE_GAP_MS);
      const sent = performance.now();
      const [submitted, { answer: claimed, received }] = await Promise.all([
        producer.post('/v2/queries', submitBody(namespace, `${context.sessionPrefix}-latency`), 'application/json'),
        claiming,
      ]);
      const items = claimed.status === 200 ? (JSON.parse(claimed.body.toString()) as { items: unknown[] }).items : [];
      if (submitted.status !== 201 || items.length !== 1) {
        failures++;
        notes.add(`submit HTTP ${submitted.status}, claim HTTP ${claimed.status} ${excerpt(claimed.body)}`);
        continue;
      }
      latencies.push(received - sent);
    }
  } finally {
    await Promise.all([producer.close(), executor.close()]);
  }
  const latency = summarizeLatencies(latencies);
  return {
    figures: { latencyP50Ms: latency.p50, latencyP95Ms: latency.p95, latencyP99Ms: latency.p99, samples: latencies.length, failures },
    notes: notes.list(),
  };
}

/**
 * `executors-claims-c<n>[-max<m>]`: the queue is filled first (submits at concurrency 16, outside
 * the measured figure), then `n` executors claim up to `m` queries per request (default 1) in a
 * closed loop until the run's time is up or the queue is empty. Every claimed query id is checked to
 * come once; the rate counts queries claimed.
 */
export function executorClaimsScenario(executors: number, perClaim = 1): Scenario {
  return {
    name: `executors-claims-c${executors}${perClaim > 1 ? `-max${perClaim}` : ''}`,
    requires: ['v2'],
    run: (context) => runClaims(context, executors, perClaim),
  };
}

async function runClaims(context: RunContext, executors: number, perClaim: number): Promise<RunResult> {
  const namespace = `${context.sessionPrefix}-claims`;
  const client = new BrokerClient(context.baseUrl, Math.max(executors, FILL_CONCURRENCY));
  const notes = new RunNotes();
  const queued = Math.ceil((context.durationMs / 1000) * QUEUED_PER_SECOND_OF_RUN);
  try {
    const fill = await fillQueue(queued, async (worker) => {
      const answer = await client.post('/v2/queries', submitBody(namespace, `${context.sessionPrefix}-claims-${worker}`), 'application/json');
      if (answer.status !== 201) notes.add(`submit HTTP ${answer.status}: ${excerpt(answer.body)}`);
      return answer.status === 201;
    });
    const run = await claimLoop(executors, context.durationMs, async (worker) => {
      const answer = await client.post(
        `/v2/executors/bench-${worker}/claims`,
        JSON.stringify({ max: perClaim, leaseSeconds: 3600, namespaces: [namespace] }),
        'application/json',
      );
      if (answer.status !== 200) {
        notes.add(`claim HTTP ${answer.status}: ${excerpt(answer.body)}`);
        return undefined;
      }
      return (JSON.parse(answer.body.toString()) as { items: { queryId: string }[] }).items.map((item) => item.queryId);
    });
    const { drainedInSeconds, ...figures } = run;
    if (drainedInSeconds !== undefined)
      notes.add(`the ${queued} queued queries were all claimed in ${drainedInSeconds.toFixed(1)} s, before the run's time was up`);
    return { figures: { ...figures, submitsPerSecond: fill.submitsPerSecond, failures: fill.failures + run.failures }, notes: notes.list() };
  } finally {
    await client.close();
  }
}
