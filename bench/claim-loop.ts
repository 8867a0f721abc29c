import { summarizeLatencies } from './stats.js';

/** Pause between a claim's answer and the next submit, so the claimer's next wait is idle when it comes. */
export const IDLE_GAP_MS = 10;
/** Items queued before a claim-throughput run: enough for its duration at the target rate. */
export const QUEUED_PER_SECOND_OF_RUN = 2_500;
export const FILL_CONCURRENCY = 16;

/** Fills a queue with `queued` items at concurrency 16 (outside the measured figure); `submit` answers whether one was accepted. */
export async function fillQueue(queued: number, submit: (worker: number) => Promise<boolean>): Promise<{ submitsPerSecond: number; failures: number }> {
  const started = performance.now();
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: FILL_CONCURRENCY }, async (_, worker) => {
      while (next++ < queued) if (!(await submit(worker))) failures++;
    }),
  );
  return { submitsPerSecond: queued / ((performance.now() - started) / 1000), failures };
}

export interface ClaimRun {
  claimsPerSecond: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  latencyP99Ms: number;
  samples: number;
  failures: number;
  doubleClaims: number;
  /** Seconds it took to empty the queue, when that came before the run's time was up. */
  drainedInSeconds?: number;
}

/**
 * `workers` claimers, each claiming in a closed loop until `durationMs` is up or the queue is empty
 * (then the rate is over the time it took). `claim` answers the ids it claimed, or undefined when
 * the call failed; every id is checked to come once.
 */
export async function claimLoop(workers: number, durationMs: number, claim: (worker: number) => Promise<readonly string[] | undefined>): Promise<ClaimRun> {
  const seen = new Set<string>();
  const latencies: number[] = [];
  let doubleClaims = 0;
  let claimed = 0;
  let failures = 0;
  let drainedAt: number | undefined;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() < deadline && drainedAt === undefined) {
        const sent = performance.now();
        const ids = await claim(worker);
        if (ids === undefined) {
          failures++;
          continue;
        }
        if (ids.length === 0) {
          drainedAt ??= performance.now();
          return;
        }
        latencies.push(performance.now() - sent);
        for (const id of ids) {
          if (seen.has(id)) doubleClaims++;
          seen.add(id);
          claimed++;
        }
      }
    }),
  );
  const elapsedSeconds = ((drainedAt ?? performance.now()) - started) / 1000;
  const latency = summarizeLatencies(latencies);
  return {
    claimsPerSecond: claimed / elapsedSeconds,
    latencyP50Ms: latency.p50,
    latencyP95Ms: latency.p95,
    latencyP99Ms: latency.p99,
    samples: claimed,
    failures,
    doubleClaims,
    ...(drainedAt === undefined ? {} : { drainedInSeconds: elapsedSeconds }),
  };
}
