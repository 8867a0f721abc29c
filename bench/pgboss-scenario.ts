import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgBoss } from 'pg-boss';
import { claimLoop, fillQueue, IDLE_GAP_MS, QUEUED_PER_SECOND_OF_RUN } from './claim-loop.js';
import { withClient } from './postgres-server.js';
import { RunNotes, type RunContext, type RunResult, type Scenario } from './scenario.js';
import { summarizeLatencies } from './stats.js';

/**
 * The executors scenarios on pg-boss (https://github.com/timgit/pg-boss), an established PostgreSQL
 * job queue, beside the broker's in the same run and on the same PostgreSQL server: what a job
 * library does for the same two measurements. Each run gets a fresh database of its own (pg-boss
 * installs its schema there), dropped afterwards. pg-boss runs inside the harness process, workers
 * calling the database directly: no HTTP, no auth, no events, no fencing. Its CPU is in `harness CPU %`.
 */

const QUEUE = 'bench-queries';

let runs = 0;

/** A fresh database on the broker's server for one run, with pg-boss started on it (LISTEN/NOTIFY on). */
async function startBoss(context: RunContext): Promise<{ boss: PgBoss; close: () => Promise<void> }> {
  const server = new URL(context.databaseUrl!);
  const name = `${server.pathname.slice(1)}_pgboss_${++runs}`;
  await withClient(server.toString(), (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(server);
  url.pathname = `/${name}`;
  // No maintenance timers during a 5 s run; the pool as large as the concurrency used.
  const boss = new PgBoss({ connectionString: url.toString(), useListenNotify: true, supervise: false, schedule: false, max: 20 });
  boss.on('error', () => undefined);
  await boss.start();
  await boss.createQueue(QUEUE, { notify: true });
  return {
    boss,
    close: async () => {
      await boss.stop({ graceful: false, timeout: 1_000 });
      await withClient(server.toString(), (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

const jobData = (namespace: string) => ({ queryId: randomUUID(), name: 'bench-query', namespace, input: 'What is the weather in Paris?' });

/**
 * `executors-pgboss-latency`: one pg-boss worker (`work`, NOTIFY-enabled queue, its shortest
 * polling interval as the backstop) waits idle; a producer `send`s a job; a sample is the time from
 * sending to the handler starting.
 */
export function pgBossLatencyScenario(): Scenario {
  return { name: 'executors-pgboss-latency', requires: ['database'], run: runLatency };
}

async function runLatency(context: RunContext): Promise<RunResult> {
  const { boss, close } = await startBoss(context);
  const notes = new RunNotes();
  const latencies: number[] = [];
  let failures = 0;
  let started: ((at: number) => void) | undefined;
  try {
    await boss.work(QUEUE, { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 30, batchSize: 1 }, async () => {
      started?.(performance.now());
    });
    const deadline = performance.now() + context.durationMs;
    while (performance.now() < deadline) {
      await sleep(IDLE_GAP_MS);
      const received = new Promise<number>((resolve) => (started = resolve));
      const sent = performance.now();
      const id = await boss.send(QUEUE, jobData(`${context.sessionPrefix}-latency`));
      if (!id) {
        failures++;
        notes.add('send answered no job id');
        continue;
      }
      const at = await Promise.race([received, sleep(5_000, -1)]);
      if (at < 0) {
        failures++;
        notes.add('a job did not reach the idle worker within 5 s');
        continue;
      }
      latencies.push(at - sent);
    }
  } finally {
    await close();
  }
  const latency = summarizeLatencies(latencies);
  return {
    figures: { latencyP50Ms: latency.p50, latencyP95Ms: latency.p95, latencyP99Ms: latency.p99, samples: latencies.length, failures },
    notes: notes.list(),
  };
}

/**
 * `executors-pgboss-claims-c<n>[-max<m>]`: as executors-claims-c<n>[-max<m>] on pg-boss: the queue
 * is filled with `send` at concurrency 16, then `n` workers `fetch` up to `m` jobs per call
 * (`batchSize`, default 1) in a closed loop.
 */
export function pgBossClaimsScenario(workers: number, perFetch = 1): Scenario {
  return {
    name: `executors-pgboss-claims-c${workers}${perFetch > 1 ? `-max${perFetch}` : ''}`,
    requires: ['database'],
    run: (context) => runClaims(context, workers, perFetch),
  };
}

async function runClaims(context: RunContext, workers: number, perFetch: number): Promise<RunResult> {
  const { boss, close } = await startBoss(context);
  const notes = new RunNotes();
  const queued = Math.ceil((context.durationMs / 1000) * QUEUED_PER_SECOND_OF_RUN);
  try {
    const fill = await fillQueue(queued, async () => Boolean(await boss.send(QUEUE, jobData(`${context.sessionPrefix}-claims`))));
    const run = await claimLoop(workers, context.durationMs, async () =>
      (await boss.fetch<{ queryId: string }>(QUEUE, { batchSize: perFetch })).map((job) => job.id),
    );
    const { drainedInSeconds, ...figures } = run;
    if (drainedInSeconds !== undefined)
      notes.add(`the ${queued} queued jobs were all fetched in ${drainedInSeconds.toFixed(1)} s, before the run's time was up`);
    return { figures: { ...figures, submitsPerSecond: fill.submitsPerSecond, failures: fill.failures + run.failures }, notes: notes.list() };
  } finally {
    await close();
  }
}
