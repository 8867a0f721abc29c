import { BrokerClient } from './broker-client.js';
import { excerpt, runClosedLoop, type Attempt } from './closed-loop.js';
import { countStoredEvents, countStoredEventsUnder, measureCopyCeiling } from './copy-ceiling.js';
import { BatchTemplate, QUERIES_PER_BATCH, rejectedSpans, SPANS_PER_BATCH } from './otlp-batches.js';
import type { Figures, MetricDefinition, RunContext, RunResult, Scenario } from './scenario.js';
import { summarizeLatencies } from './stats.js';

const PROTOBUF = 'application/x-protobuf';

export const OTLP_METRICS: readonly MetricDefinition[] = [
  { key: 'spansPerSecond', label: 'spans/s', aggregate: 'median', decimals: 0 },
  { key: 'requestsPerSecond', label: 'requests/s', aggregate: 'median', decimals: 0 },
  { key: 'latencyP50Ms', label: 'p50 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyP95Ms', label: 'p95 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyP99Ms', label: 'p99 ms', aggregate: 'median', decimals: 1 },
  { key: 'non200', label: 'non-200', aggregate: 'total', decimals: 0 },
  { key: 'badAnswers', label: 'bad answers', aggregate: 'total', decimals: 0 },
  { key: 'transportErrors', label: 'transport errors', aggregate: 'total', decimals: 0 },
  { key: 'storedMismatch', label: 'stored ≠ accepted', aggregate: 'total', decimals: 0 },
  { key: 'copyRowsPerSecond', label: 'COPY rows/s', aggregate: 'median', decimals: 0 },
  { key: 'brokerVsCopyPercent', label: 'broker / COPY %', aggregate: 'median', decimals: 0 },
];

/**
 * Closed loop: `concurrency` workers POST protobuf OTLP batches of SPANS_PER_BATCH spans to
 * `/v1/traces`. Each worker has its own QUERIES_PER_BATCH sessions; every batch is new spans in
 * them (fresh trace and span ids). After the run (outside its CPU window), the spans stored in
 * those sessions are counted and the raw-COPY ceiling for as many rows is measured.
 */
export function otlpScenario(concurrency: number): Scenario {
  return {
    name: `otlp-proto-c${concurrency}`,
    run: (context) => runOtlp(context, concurrency, false),
  };
}

/** The same with every query new: its own name and session (BatchTemplate's `fresh`). */
export function otlpFreshQueriesScenario(concurrency: number): Scenario {
  return {
    name: `otlp-fresh-c${concurrency}`,
    run: (context) => runOtlp(context, concurrency, true),
  };
}

async function runOtlp(context: RunContext, concurrency: number, fresh: boolean): Promise<RunResult> {
  const sessionsOf = (worker: number) => Array.from({ length: QUERIES_PER_BATCH }, (_, q) => `${context.sessionPrefix}-w${worker}-s${q}`);
  // Serialised before the clock starts.
  const templates = Array.from({ length: concurrency }, (_, worker) => new BatchTemplate(sessionsOf(worker), { fresh }));
  const client = new BrokerClient(context.baseUrl, concurrency);
  let loop;
  let jsonAnswers = 0;
  try {
    loop = await runClosedLoop(concurrency, context.durationMs, async (worker): Promise<Attempt> => {
      const answer = await client.post('/v1/traces', templates[worker]!.next(), PROTOBUF);
      if (answer.status !== 200) return { kind: 'refused', note: `HTTP ${answer.status}: ${excerpt(answer.body)}` };
      if (!answer.contentType.startsWith(PROTOBUF)) {
        // Upstream ark-broker answers a protobuf export with JSON `{}`; the OpenTelemetry exporters
        // take any 200 as success, so on a baseline it counts as accepted (and is noted).
        if (context.upstreamOnly && answer.contentType.startsWith('application/json') && answer.body.toString().trim() === '{}') {
          jsonAnswers++;
          return { kind: 'ok', units: SPANS_PER_BATCH };
        }
        return { kind: 'invalid', note: `200 with Content-Type ${answer.contentType}: ${excerpt(answer.body)}` };
      }
      const { rejected, message } = rejectedSpans(answer.body);
      if (rejected !== 0) return { kind: 'invalid', note: `partial success: ${rejected} spans rejected: ${message}` };
      return { kind: 'ok', units: SPANS_PER_BATCH };
    });
  } finally {
    await client.close();
  }
  const latency = summarizeLatencies(loop.latenciesMs);
  const spansPerSecond = loop.units / loop.elapsedSeconds;
  const accepted = loop.units;
  const { databaseUrl } = context;
  return {
    figures: {
      spansPerSecond,
      requestsPerSecond: loop.latenciesMs.length / loop.elapsedSeconds,
      latencyP50Ms: latency.p50,
      latencyP95Ms: latency.p95,
      latencyP99Ms: latency.p99,
      non200: loop.refused,
      badAnswers: loop.invalid,
      transportErrors: loop.transportErrors,
    },
    notes: [
      ...loop.notes.list(),
      ...(jsonAnswers > 0 ? [`${jsonAnswers} exports answered 200 with JSON {} instead of a protobuf ExportTraceServiceResponse (counted as accepted)`] : []),
    ],
    ...(databaseUrl === undefined
      ? {}
      : {
          afterwards: async () => {
            const sessions = Array.from({ length: concurrency }, (_, worker) => sessionsOf(worker)).flat();
            // Fresh sessions are these names with a suffix per batch.
            const stored = fresh ? await countStoredEventsUnder(databaseUrl, `${context.sessionPrefix}-w`) : await countStoredEvents(databaseUrl, sessions);
            if (fresh) {
              const notes = stored === accepted ? [] : [`${accepted} spans accepted (200 without rejection) but ${stored} events stored in the run's sessions`];
              return { figures: { storedMismatch: Math.abs(stored - accepted) }, notes };
            }
            // Rows like one batch: the first ten stored events of each of worker 0's ten sessions.
            const copy = await measureCopyCeiling(databaseUrl, sessionsOf(0), SPANS_PER_BATCH / QUERIES_PER_BATCH, Math.max(accepted, SPANS_PER_BATCH));
            const figures: Figures = {
              storedMismatch: Math.abs(stored - accepted),
              copyRowsPerSecond: copy.rowsPerSecond,
              brokerVsCopyPercent: (spansPerSecond / copy.rowsPerSecond) * 100,
            };
            const notes = stored === accepted ? [] : [`${accepted} spans accepted (200 without rejection) but ${stored} events stored in the run's sessions`];
            return { figures, notes };
          },
        }),
  };
}
