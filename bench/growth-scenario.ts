import { appendScenario } from './append-scenario.js';
import { otlpScenario } from './otlp-scenario.js';
import type { Figures, MetricDefinition, RunContext, Scenario } from './scenario.js';
import { seedLog } from './seed-log.js';

export const GROWTH_METRICS: readonly MetricDefinition[] = [
  { key: 'storedEvents', label: 'events stored before', aggregate: 'median', decimals: 0 },
  { key: 'unitsPerSecond', label: 'events or spans/s', aggregate: 'median', decimals: 0 },
  { key: 'requestsPerSecond', label: 'requests/s', aggregate: 'median', decimals: 0 },
  { key: 'latencyP50Ms', label: 'p50 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyP99Ms', label: 'p99 ms', aggregate: 'median', decimals: 1 },
  { key: 'errors', label: 'errors', aggregate: 'total', decimals: 0 },
];

/** The error counters of the wrapped append and OTLP scenarios, summed into `errors`. */
const ERROR_KEYS = ['non201', 'non200', 'badAnswers', 'transportErrors', 'sequenceMismatches'];

/**
 * A write scenario (`append-b<B>-c<C>` or `otlp-proto-c<C>`) on a log grown to `stored` events:
 * `prepare` seeds it (bench/seed-log.ts, outside the measurement), then the scenario runs as it
 * does on the fresh database, its figures mapped to GROWTH_METRICS. Named
 * `growth-<size>-<scenario>`; the sizes must run in increasing order (seeding only adds).
 */
export function growthScenario(
  stored: number,
  sizeName: string,
  write: { kind: 'append'; batch: number; concurrency: number } | { kind: 'otlp'; concurrency: number },
): Scenario {
  const inner = write.kind === 'append' ? appendScenario(write.batch, write.concurrency) : otlpScenario(write.concurrency);
  let storedEvents = Number.NaN;
  return {
    name: `growth-${sizeName}-${inner.name}`,
    requires: write.kind === 'append' ? ['database', 'v2'] : ['database'],
    prepare: async (context) => {
      if (context.databaseUrl !== undefined) storedEvents = (await seedLog(context.databaseUrl, stored)).stored;
    },
    run: async (context) => {
      // Without the database: the OTLP scenario's stored-count check and COPY ceiling are for the fresh log, not repeated here.
      const result = await inner.run(withoutDatabase(context));
      const f = result.figures;
      const figures: Figures = {
        storedEvents,
        unitsPerSecond: f.eventsPerSecond ?? f.spansPerSecond ?? Number.NaN,
        requestsPerSecond: f.requestsPerSecond ?? Number.NaN,
        latencyP50Ms: f.latencyP50Ms ?? Number.NaN,
        latencyP99Ms: f.latencyP99Ms ?? Number.NaN,
        errors: ERROR_KEYS.reduce((total, key) => total + (f[key] ?? 0), 0),
      };
      return { figures, notes: result.notes };
    },
  };
}

function withoutDatabase(context: RunContext): RunContext {
  return { baseUrl: context.baseUrl, upstreamOnly: context.upstreamOnly, durationMs: context.durationMs, sessionPrefix: context.sessionPrefix };
}
