import { Agent } from 'node:http';
import { BrokerClient, RouteMissingError } from './broker-client.js';
import { ChunkProducer, ChunkReader, RouteUnavailableError } from './chunk-stream-clients.js';
import { excerpt } from './closed-loop.js';
import { RunNotes, type MetricDefinition, type RunContext, type RunResult, type Scenario } from './scenario.js';
import { sum, summarizeLatencies } from './stats.js';
import { waitUntil, withTimeout } from './waiting.js';

const OPEN_TIMEOUT_MS = 15_000;
/** After the last upload is answered and completed, how long readers may take to get everything and `[DONE]`. */
const DRAIN_TIMEOUT_MS = 15_000;
const DRAIN_POLL_MS = 10;
/** Connections for the `POST /stream/:query/complete` calls. */
const COMPLETE_CONNECTIONS = 16;
/**
 * Unpaced, a producer stops after this many chunks per second of run, even before the time is up.
 * Without a count bound a fast producer fills the socket buffers of both ends (megabytes per
 * stream) far faster than the broker commits, and the run's length becomes the time to drain them.
 * 200 streams × 200/s: 40,000 chunks/s, above the 30,000 target, so a broker meeting it is bounded
 * by the time, a slower one by the count (and its figure covers the whole drain).
 */
export const UNPACED_CHUNKS_PER_STREAM_PER_SECOND = 200;

export const CHUNK_METRICS: readonly MetricDefinition[] = [
  { key: 'chunksPerSecond', label: 'chunks/s', aggregate: 'median', decimals: 0 },
  { key: 'chunks', label: 'chunks', aggregate: 'median', decimals: 0 },
  { key: 'latencyP50Ms', label: 'p50 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyP95Ms', label: 'p95 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyP99Ms', label: 'p99 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyMaxMs', label: 'max ms', aggregate: 'median', decimals: 1 },
  { key: 'uploadErrors', label: 'upload errors', aggregate: 'total', decimals: 0 },
  { key: 'completeErrors', label: 'complete errors', aggregate: 'total', decimals: 0 },
  { key: 'missing', label: 'missing', aggregate: 'total', decimals: 0 },
  { key: 'duplicates', label: 'duplicates / out of order', aggregate: 'total', decimals: 0 },
  { key: 'noDone', label: 'no [DONE]', aggregate: 'total', decimals: 0 },
  { key: 'readerErrors', label: 'reader errors', aggregate: 'total', decimals: 0 },
];

/** Unpaced: every producer as fast as backpressure allows. Paced: each stream one chunk every 1000/chunksPerSecond ms. */
export type ChunkPacing = { kind: 'unpaced' } | { kind: 'paced'; chunksPerSecondPerStream: number };

/**
 * `streams` concurrent chunk streams, each one long chunked `POST /stream/<query>` and one SSE
 * reader `GET /stream/<query>` connected before the producers start. Then each upload is ended
 * and answered, `POST /stream/<query>/complete` is sent, and its reader must get every chunk once,
 * in order, then `data: [DONE]`. Latency: the producer's write time (in the chunk) to the reader's
 * receive time, one process and clock.
 */
export function chunksScenario(name: string, streams: number, pacing: ChunkPacing): Scenario {
  return { name, run: (context) => runChunks(context, streams, pacing) };
}

async function runChunks(context: RunContext, streams: number, pacing: ChunkPacing): Promise<RunResult> {
  const notes = new RunNotes();
  const latenciesMs: number[] = [];
  const queries = Array.from({ length: streams }, (_, i) => `${context.sessionPrefix}-q${i}`);
  // Dedicated agents, no keep-alive: every stream has its own connections, closed at the end.
  const uploadAgent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const readAgent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const completer = new BrokerClient(context.baseUrl, COMPLETE_CONNECTIONS);
  const readers = queries.map((q) => new ChunkReader(context.baseUrl, q, readAgent, latenciesMs, notes));
  const producers: ChunkProducer[] = [];
  try {
    await withTimeout(Promise.all(readers.map((r) => r.opened)), OPEN_TIMEOUT_MS, 'the SSE readers to connect');
    producers.push(...queries.map((q, i) => new ChunkProducer(context.baseUrl, q, i, uploadAgent)));
    const started = performance.now();
    const deadline = started + context.durationMs;
    if (pacing.kind === 'unpaced') {
      const maxChunks = Math.ceil((UNPACED_CHUNKS_PER_STREAM_PER_SECOND * context.durationMs) / 1000);
      await Promise.all(producers.map((p) => p.produceUnpaced(deadline, maxChunks)));
    } else {
      const intervalMs = 1000 / pacing.chunksPerSecondPerStream;
      // Staggered, so the streams' chunks spread evenly over each interval.
      await Promise.all(producers.map((p, i) => p.producePaced(started + (i * intervalMs) / streams, intervalMs, deadline)));
    }
    const uploadFailures = await Promise.all(producers.map((p) => p.finish()));
    const uploadedSeconds = (performance.now() - started) / 1000;
    let uploadErrors = 0;
    uploadFailures.forEach((failure, i) => {
      if (failure === undefined) return;
      uploadErrors++;
      notes.add(`upload of ${queries[i]}: ${failure}`);
    });
    const firstFailure = uploadFailures.find((f) => f !== undefined);
    if (uploadErrors === streams && sum(readers.map((r) => r.received)) === 0) {
      // Nothing got through at all: further runs would only wait out the same timeouts.
      throw new Error(`no upload succeeded and no reader received a chunk (first upload: ${firstFailure})`);
    }
    const completeErrors = sum(await Promise.all(producers.map((p) => complete(completer, p.queryId, notes))));
    await waitForReaders(readers);
    const latency = summarizeLatencies(latenciesMs);
    const chunks = sum(producers.map((p) => p.sent));
    const missing = sum(readers.map((r, i) => Math.max(producers[i]!.sent - r.expected, 0) + r.skipped));
    for (const [i, r] of readers.entries()) {
      if (!r.done) notes.add(`reader of ${r.queryId}: no [DONE] after ${r.received} of ${producers[i]!.sent} chunks`);
      else if (!r.ended) notes.add(`reader of ${r.queryId}: the response did not end after [DONE]`);
      if (r.afterDone > 0) notes.add(`reader of ${r.queryId}: ${r.afterDone} frames after [DONE]`);
    }
    return {
      figures: {
        chunksPerSecond: chunks / uploadedSeconds,
        chunks,
        latencyP50Ms: latency.p50,
        latencyP95Ms: latency.p95,
        latencyP99Ms: latency.p99,
        latencyMaxMs: latency.max,
        uploadErrors,
        completeErrors,
        missing,
        duplicates: sum(readers.map((r) => r.duplicates + r.afterDone)),
        noDone: readers.filter((r) => !r.done || !r.ended).length,
        readerErrors: readers.filter((r) => r.failure !== undefined).length,
      },
      notes: notes.list(),
    };
  } catch (error) {
    if (error instanceof RouteUnavailableError || error instanceof RouteMissingError)
      throw new Error(`chunk routes unavailable: ${error.message}`, { cause: error });
    throw error;
  } finally {
    for (const reader of readers) reader.close();
    await completer.close();
    uploadAgent.destroy();
    readAgent.destroy();
  }
}

/** `POST /stream/<q>/complete`, expecting `200 {"status":"completed","query":<q>}`; 1 if it failed. */
async function complete(client: BrokerClient, queryId: string, notes: RunNotes): Promise<number> {
  try {
    const answer = await client.post(`/stream/${encodeURIComponent(queryId)}/complete`, '', 'application/json');
    const body = answer.body.toString();
    let parsed: { status?: unknown; query?: unknown } = {};
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      // reported below
    }
    if (answer.status === 200 && parsed.status === 'completed' && parsed.query === queryId) return 0;
    notes.add(`complete of ${queryId}: HTTP ${answer.status}: ${excerpt(body)}`);
  } catch (error) {
    notes.add(`complete of ${queryId}: ${(error as Error).message}`);
  }
  return 1;
}

function waitForReaders(readers: readonly ChunkReader[]): Promise<void> {
  return waitUntil(() => readers.every((r) => (r.done && r.ended) || r.failure !== undefined), DRAIN_TIMEOUT_MS, DRAIN_POLL_MS);
}
