import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerClient, RouteMissingError, type BenchEvent } from './broker-client.js';
import { RunNotes, type MetricDefinition, type RunContext, type RunResult, type Scenario } from './scenario.js';
import { summarizeLatencies } from './stats.js';

/** Makes each event about 150 bytes of JSON, a small but not empty payload. */
const PAYLOAD_FILLER = 'x'.repeat(100);
/** Pause after a failed request, so a broker that refuses everything is not hammered in a tight loop. */
const FAILURE_PAUSE_MS = 50;
const MAX_RETRY_AFTER_MS = 1_000;

export const APPEND_METRICS: readonly MetricDefinition[] = [
  { key: 'eventsPerSecond', label: 'events/s', aggregate: 'median', decimals: 0 },
  { key: 'requestsPerSecond', label: 'requests/s', aggregate: 'median', decimals: 0 },
  { key: 'latencyP50Ms', label: 'p50 ms', aggregate: 'median', decimals: 2 },
  { key: 'latencyP99Ms', label: 'p99 ms', aggregate: 'median', decimals: 2 },
  { key: 'non201', label: 'non-201', aggregate: 'total', decimals: 0 },
  { key: 'transportErrors', label: 'transport errors', aggregate: 'total', decimals: 0 },
  { key: 'sequenceMismatches', label: 'sequence mismatches', aggregate: 'total', decimals: 0 },
];

interface AppendTally {
  latenciesMs: number[];
  events: number;
  non201: number;
  transportErrors: number;
  sequenceMismatches: number;
  notes: RunNotes;
  /** Set when the target lacks the route: every worker stops and the run fails with it. */
  routeMissing?: RouteMissingError;
}

/**
 * Closed loop: `concurrency` workers, each POSTing `batchSize` events to its own session as soon as
 * its previous request is answered, until the run's time is up.
 */
export function appendScenario(batchSize: number, concurrency: number): Scenario {
  return {
    name: `append-b${batchSize}-c${concurrency}`,
    run: (context) => runAppend(context, batchSize, concurrency),
  };
}

async function runAppend(context: RunContext, batchSize: number, concurrency: number): Promise<RunResult> {
  const client = new BrokerClient(context.baseUrl, concurrency);
  const tally: AppendTally = { latenciesMs: [], events: 0, non201: 0, transportErrors: 0, sequenceMismatches: 0, notes: new RunNotes() };
  const started = performance.now();
  const deadline = started + context.durationMs;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, (_, worker) => appendWorker(client, `${context.sessionPrefix}-w${worker}`, batchSize, deadline, tally)),
    );
  } finally {
    await client.close();
  }
  if (tally.routeMissing) throw tally.routeMissing;
  // Until the last in-flight request was answered: every counted event fell inside it.
  const elapsedSeconds = (performance.now() - started) / 1000;
  const requests = tally.latenciesMs.length;
  const latency = summarizeLatencies(tally.latenciesMs);
  return {
    figures: {
      eventsPerSecond: tally.events / elapsedSeconds,
      requestsPerSecond: requests / elapsedSeconds,
      latencyP50Ms: latency.p50,
      latencyP99Ms: latency.p99,
      non201: tally.non201,
      transportErrors: tally.transportErrors,
      sequenceMismatches: tally.sequenceMismatches,
    },
    notes: tally.notes.list(),
  };
}

async function appendWorker(client: BrokerClient, sessionId: string, batchSize: number, deadline: number, tally: AppendTally): Promise<void> {
  const events: BenchEvent[] = Array.from({ length: batchSize }, (_, index) => ({
    sessionId,
    type: 'custom.bench',
    data: { index, filler: PAYLOAD_FILLER },
  }));
  // The same body every time: the harness shares the CPUs with the broker, so it should spend little.
  const body = JSON.stringify(batchSize === 1 ? events[0] : events);
  /** The session is new, so its sequences must run 1, 2, 3, … across this worker's appends. */
  let lastSequence = 0;
  while (performance.now() < deadline && !tally.routeMissing) {
    const began = performance.now();
    try {
      const outcome = await client.postEvents(body);
      if (outcome.ok) {
        tally.latenciesMs.push(performance.now() - began);
        tally.events += outcome.items.length;
        const last = outcome.items.at(-1)?.sequence;
        if (outcome.items.length !== batchSize || last !== lastSequence + batchSize) {
          tally.sequenceMismatches++;
          tally.notes.add(
            `${sessionId}: expected sequences ${lastSequence + 1}..${lastSequence + batchSize}, got ${outcome.items.length} items ending at ${last}`,
          );
        }
        lastSequence = last ?? lastSequence;
        continue;
      }
      tally.non201++;
      tally.notes.add(`HTTP ${outcome.status}: ${outcome.message}`);
      const retryAfterMs = Math.min((outcome.retryAfterSeconds ?? 0) * 1000, MAX_RETRY_AFTER_MS);
      await sleep(Math.min(Math.max(retryAfterMs, FAILURE_PAUSE_MS), Math.max(deadline - performance.now(), 0)));
    } catch (error) {
      if (error instanceof RouteMissingError) {
        tally.routeMissing = error;
        return;
      }
      tally.transportErrors++;
      tally.notes.add(`request failed: ${(error as Error).message}`);
      await sleep(FAILURE_PAUSE_MS);
    }
  }
}
