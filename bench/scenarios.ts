import { APPEND_METRICS, appendScenario } from './append-scenario.js';
import { ARK_DAY_DESCRIPTION, ARK_DAY_METRICS, ARK_DAY_PART_METRICS, ARK_DAY_PARTS, arkDayScenario, partFigure } from './ark-day-scenario.js';
import { CHUNK_METRICS, chunksScenario, UNPACED_CHUNKS_PER_STREAM_PER_SECOND } from './chunks-scenario.js';
import { OPERATION_EVENT_METRICS, operationEventsScenario } from './operation-events-scenario.js';
import { QUERIES_PER_BATCH, SPANS_PER_BATCH } from './otlp-batches.js';
import { OTLP_METRICS, otlpFreshQueriesScenario, otlpScenario } from './otlp-scenario.js';
import { EMMETT_VERSION } from './emmett-service.js';
import { EXECUTOR_METRICS, executorClaimsScenario, executorLatencyScenario } from './executors-scenario.js';
import { pgBossClaimsScenario, pgBossLatencyScenario } from './pgboss-scenario.js';
import { GROWTH_METRICS, growthScenario } from './growth-scenario.js';
import type { Scenario, ScenarioGroup } from './scenario.js';
import { STUCK_CLIENT_METRICS, stuckClientScenario } from './stuck-client-scenario.js';
import { WATCH_METRICS, watchScenario } from './watch-scenario.js';

const WATCHERS = 100;
const MANY_WATCHERS = 1_000;
const PRODUCER_EVENTS_PER_SECOND = 200;
/** 1,000 watchers of one session at 200/s would be 200,000 SSE messages/s for the harness alone to parse. */
const MANY_WATCHERS_ONE_SESSION_EVENTS_PER_SECOND = 20;
const STUCK_CLIENTS = 20;
const CHUNK_STREAMS = 200;
const PACED_STREAMS = 16;
const PACED_CHUNKS_PER_SECOND = 50;
/** The append shapes measured on the broker and, beside it, on Emmett: [batch size, concurrency]. */
const APPEND_SHAPES = [
  [1, 1],
  [1, 32],
  [100, 1],
  [100, 32],
] as const;

/** Stored events at which the write scenarios are measured again, in increasing order. */
const GROWTH_SIZES = [
  [1_000_000, '1m'],
  [10_000_000, '10m'],
] as const;

/** Uses routes only this broker serves: skipped on a --baseline-url. */
const needsV2 = (scenario: Scenario): Scenario => ({ ...scenario, requires: ['v2'] });

export const SCENARIO_GROUPS: readonly ScenarioGroup[] = [
  {
    title: 'Append throughput',
    description:
      '`POST /v2/events`, closed loop: each of C workers has its own session (so C sessions, C keep-alive connections) and POSTs ' +
      'its batch of B events (~150 bytes of JSON each) as soon as its previous request is answered. Latency: request sent → 201 ' +
      'read, i.e. durably committed. Every answer is checked: 201, B items, sequences continuing the session without a hole.',
    metrics: APPEND_METRICS,
    headline: ['eventsPerSecond', 'latencyP99Ms'],
    scenarios: APPEND_SHAPES.map(([batch, concurrency]) => needsV2(appendScenario(batch, concurrency))),
  },
  {
    title: 'Append: Emmett side by side',
    description:
      'The same append scenarios (same bodies, sizes, batching and checks) against the Emmett reference: ' +
      `\`@event-driven-io/emmett-postgresql\` ${EMMETT_VERSION} on a fresh database of the same PostgreSQL server, in the same run, ` +
      'behind a minimal node:http service (bench/emmett-server.ts, its own process like the broker, a pg pool of 20 like the ' +
      "broker's) that takes the same `POST /v2/events` bodies and makes ONE `eventStore.appendToStream(sessionId, events)` call per " +
      "request (one transaction; Emmett's stream version is the sequence). Emmett stores the events and keeps its stream heads; it " +
      'has no dedupe keys, no read models and no NOTIFY, which the broker does in the same transaction. `broker CPU %` is the ' +
      "Emmett service's CPU here. `emmett-<shape>` is selected with the broker's `append-<shape>` and runs right after it (the same " +
      'minute of the machine); the ratio table below divides ' +
      "the broker's figure by Emmett's (target: events/s ≥ 2×).",
    metrics: APPEND_METRICS,
    headline: ['eventsPerSecond', 'latencyP99Ms'],
    runsOn: 'emmett',
    scenarios: APPEND_SHAPES.map(([batch, concurrency]) => ({
      ...appendScenario(batch, concurrency),
      name: `emmett-b${batch}-c${concurrency}`,
      counterpart: `append-b${batch}-c${concurrency}`,
    })),
  },
  {
    title: 'Watch delivery latency',
    description:
      `${WATCHERS} SSE watchers (\`GET /v2/sessions/:id/events?watch=true\`, from sequence 1) and an open-loop producer sending ` +
      `${PRODUCER_EVENTS_PER_SECOND} single-event appends/s for the run, round-robin over the watched sessions: ` +
      '`one-session`: all watchers on one session (each receives every event); `own-sessions`: each watcher on its own session ' +
      `(each receives ${PRODUCER_EVENTS_PER_SECOND / WATCHERS}/s). The same with ${MANY_WATCHERS.toLocaleString('en-US')} watchers ` +
      `(the figure of docs/architecture.md#performance-targets): own sessions at ${PRODUCER_EVENTS_PER_SECOND}/s, one session at ` +
      `${MANY_WATCHERS_ONE_SESSION_EVENTS_PER_SECOND}/s (\`-${MANY_WATCHERS_ONE_SESSION_EVENTS_PER_SECOND}ps\`; ` +
      `${(MANY_WATCHERS * MANY_WATCHERS_ONE_SESSION_EVENTS_PER_SECOND).toLocaleString('en-US')} deliveries/s). ` +
      "Latency: the producer's send time, carried in the event's data, " +
      "to the watcher's receive time, one process and clock: producer→reader, an upper bound on commit→client; `append p50/p99` is " +
      "the producer's send → 201, the part of it spent before the commit was confirmed; `after 201` is the receive time less the " +
      'time the producer read the 201 (negative: the event beat its answer), i.e. commit→client less commit→201. After the last ' +
      'append is answered the watchers get up to 10 s to catch up; each checks by sequence that it got every event once, in order.',
    metrics: WATCH_METRICS,
    headline: ['latencyP50Ms', 'latencyP99Ms'],
    scenarios: [
      watchScenario('shared', WATCHERS, PRODUCER_EVENTS_PER_SECOND),
      watchScenario('own', WATCHERS, PRODUCER_EVENTS_PER_SECOND),
      watchScenario('own', MANY_WATCHERS, PRODUCER_EVENTS_PER_SECOND),
      watchScenario('shared', MANY_WATCHERS, MANY_WATCHERS_ONE_SESSION_EVENTS_PER_SECOND, `-${MANY_WATCHERS_ONE_SESSION_EVENTS_PER_SECOND}ps`),
    ].map(needsV2),
  },
  {
    title: 'Stuck SSE clients',
    description:
      `${STUCK_CLIENTS} watchers of one session that never read (response paused) and one that reads everything; 24 MiB of 64 KiB ` +
      "events are appended to the session (16 per request). Figures from the broker's `/metrics` before the watchers open and " +
      'once what it buffers stops growing, divided by the stuck clients: `ark_broker_sse_buffered_bytes` (bytes held in the ' +
      "broker for clients, exact), resident memory and V8 heap used (upper bounds: they include the appends' own garbage). " +
      'The healthy watcher must get every event. Target (docs/architecture.md#performance-targets): a stuck client costs ≤ 1 MiB (cut after ' +
      'SSE_STALL_TIMEOUT_MS with its resume id: tested in test/watch.test.ts, not here).',
    metrics: STUCK_CLIENT_METRICS,
    headline: ['bufferedKiBPerClient', 'rssDeltaKiBPerClient'],
    scenarios: [stuckClientScenario(STUCK_CLIENTS)].map(needsV2),
  },
  {
    title: 'OTLP ingest',
    description:
      `\`POST /v1/traces\` with \`Content-Type: application/x-protobuf\`, closed loop at concurrency C (C keep-alive connections). ` +
      `Each body is an ExportTraceServiceRequest of ${SPANS_PER_BATCH} ended spans serialised by the official ` +
      '`ProtobufTraceSerializer` (`@opentelemetry/otlp-transformer`) from ReadableSpans made once by the SDK (TracerProvider + ' +
      `InMemorySpanExporter), shaped like Ark's: ${QUERIES_PER_BATCH} queries per batch, each its own trace and session ` +
      '(`query.<name>` → `agent.default/<name>` → 4 × (`llm.<model>`, `tool.<name>`), with `ark.session.id`, `query.name`, ' +
      '`query.namespace`, `llm.model.name`, `gen_ai.usage.*`, `tool.name`…). Each worker has its own sessions; every batch gets fresh ' +
      'random trace and span ids (patched into the serialised bytes, parents kept consistent), so each is new spans, never a redelivery. ' +
      "Every answer is checked: 200, protobuf, no partial-success rejection; after the run the events stored in the run's sessions " +
      'are counted (`stored ≠ accepted`). COPY ceiling: after each run (outside its CPU window) as many rows as spans accepted, cycling ' +
      'over 100 of the rows the broker stored (its `data` as stored), are streamed with one `COPY … FROM STDIN` (pg-copy-streams, ' +
      'one connection) into a fresh table like `events` (its columns, defaults and CHECKs) with only its primary key, in the same ' +
      'database; `broker / COPY %` = spans/s ÷ COPY rows/s. `otlp-fresh-c8`: the same, but every query of every batch is new, with a ' +
      "query name and a session of its own (the worker's names with a new 12-hex-digit suffix per batch), as a controller running many " +
      'distinct queries sends (no COPY ceiling). Targets (docs/architecture.md#performance-targets): ≥ 20,000 spans/s and ≥ 50 % of COPY.',
    metrics: OTLP_METRICS,
    headline: ['spansPerSecond', 'latencyP99Ms'],
    scenarios: [otlpScenario(8), otlpScenario(32), otlpFreshQueriesScenario(8)],
  },
  {
    title: 'Operation events',
    description:
      "`POST /events` with the Ark controller's operation event body (`{timestamp, eventType, reason, message, data: {queryId, " +
      'queryName, queryNamespace, sessionId, …}}`), closed loop at concurrency C: each worker one session whose queries go ' +
      'through QueryExecutionStart → AgentExecutionStart → (LLMCall, ToolCall) × 2 → AgentExecutionComplete → ' +
      'QueryExecutionComplete; every body distinct. Every answer is checked to be `201 {"status":"success"}`; after the run the ' +
      "events stored in the run's sessions are counted. Target (docs/architecture.md#performance-targets): ≥ 5,000 requests/s at concurrency 32.",
    metrics: OPERATION_EVENT_METRICS,
    headline: ['requestsPerSecond', 'latencyP99Ms'],
    scenarios: [operationEventsScenario(32)],
  },
  {
    title: 'Completion chunks',
    description:
      'N chunk streams, each ONE long chunked `POST /stream/<query>` (`application/x-ndjson`, written with `http.request`, ' +
      'waiting for `drain` whenever `write()` returns false) of OpenAI `chat.completion.chunk` lines carrying their sequence and ' +
      'send time in an extra `bench` field, and one SSE reader `GET /stream/<query>` (from-beginning=false) connected before ' +
      `the producers start. \`chunks-${CHUNK_STREAMS}\`: ${CHUNK_STREAMS} streams, producers unpaced (as fast as backpressure allows, ` +
      `for the run's time but at most ${UNPACED_CHUNKS_PER_STREAM_PER_SECOND} chunks per stream per second of it, so that what the sockets ` +
      'buffer stays bounded); ' +
      `\`chunks-paced-${PACED_STREAMS}\`: ${PACED_STREAMS} streams × ${PACED_CHUNKS_PER_SECOND} chunks/s, staggered. At the end each upload is ` +
      'ended (its answer must be `200 stream_processed` with every chunk counted), then `POST /stream/<query>/complete` (200 ' +
      '`completed`), and its reader must get every chunk once and in order, then `data: [DONE]` and the end of the response (up ' +
      'to 15 s). chunks/s: chunks acknowledged ÷ (first write → last upload answer). Latency: producer write → reader receive, one ' +
      'process and clock; unpaced, it includes the time chunks queue behind backpressure. Targets (docs/architecture.md#performance-targets): ≥ 30,000 ' +
      'chunks/s over 200 streams with p99 ≤ 25 ms; paced p99 ≤ 5 ms.',
    metrics: CHUNK_METRICS,
    headline: ['chunksPerSecond', 'latencyP99Ms'],
    scenarios: [
      chunksScenario(`chunks-${CHUNK_STREAMS}`, CHUNK_STREAMS, { kind: 'unpaced' }),
      chunksScenario(`chunks-paced-${PACED_STREAMS}`, PACED_STREAMS, { kind: 'paced', chunksPerSecondPerStream: PACED_CHUNKS_PER_SECOND }),
    ],
  },
  {
    title: 'Query executors (work queue)',
    description:
      '`executors-latency`: one executor long-polls `POST /v2/executors/:id/claims` (`waitSeconds` 30) for its own namespace; once ' +
      'it waits idle (10 ms after its previous answer) a producer sends `POST /v2/queries`; a sample is the time from sending the ' +
      "submit to reading the claim's answer (submit committed, NOTIFY on the broker's LISTEN connection, the waiter woken, the " +
      'claiming statement). Target: p99 ≤ 10 ms. `executors-claims-c8`: the queue is filled first (submits at concurrency 16, ' +
      '`submits/s (filling)`), then 8 executors claim one query per request in a closed loop until the time is up or the queue is ' +
      'empty; every claimed id is checked to come once (`claimed twice`). Target: ≥ 2,000 claims/s. `-max4`: the same, each request ' +
      'claiming up to 4 queries (an executor with 4 free slots); claims/s counts queries claimed. `executors-pgboss-*`: the same ' +
      'on pg-boss (an established PostgreSQL job queue) on the same PostgreSQL server in the same run, in a fresh database of ' +
      'its own: an idle `work` worker on a NOTIFY-enabled queue (`send` to handler start), and 8 workers calling `fetch` (one ' +
      'job each, or up to 4 with `batchSize` 4) in a closed loop. pg-boss runs in the harness process (its CPU is in `harness CPU %`) and talks to PostgreSQL ' +
      'directly: no HTTP, authentication, fencing or session events, which the broker figures include.',
    metrics: EXECUTOR_METRICS,
    headline: ['claimsPerSecond', 'latencyP99Ms'],
    scenarios: [
      executorLatencyScenario(),
      executorClaimsScenario(8),
      executorClaimsScenario(8, 4),
      pgBossLatencyScenario(),
      pgBossClaimsScenario(8),
      pgBossClaimsScenario(8, 4),
    ],
  },
  {
    title: 'Ark day (mixed workload)',
    description: ARK_DAY_DESCRIPTION,
    metrics: ARK_DAY_METRICS,
    headline: [partFigure('chunks', 'p99Ms'), partFigure('operationEvents', 'p99Ms'), partFigure('sessionWatch', 'p99Ms'), partFigure('v2Aggregate', 'p99Ms')],
    parts: { rows: ARK_DAY_PARTS, metrics: ARK_DAY_PART_METRICS },
    scenarios: [arkDayScenario()],
  },
  {
    title: 'Growth (writes)',
    description:
      'Write throughput as the log grows: before the scenarios of each size the log is grown to that many events ' +
      '(bench/seed-log.ts: server-side `INSERT … SELECT FROM generate_series` into `events` and `event_streams`, 100,000 rows ' +
      'per transaction, sessions of 1,000 events, 60 % `llm.chunk`, the rest span and operation-event types with query, ' +
      'trace and span ids and unique dedupe keys, ~200 bytes of data; then ANALYZE; the read models are not seeded), then ' +
      '`append-b100-c32`, `append-b1-c32` and `otlp-proto-c8` run as above, into new sessions. Compare with the same ' +
      'scenarios on the fresh database in the tables above. Last in a run, since seeding only adds; seeding 10M takes minutes ' +
      "and is not measured. Needs the harness's own broker (not --url).",
    metrics: GROWTH_METRICS,
    headline: ['unitsPerSecond', 'latencyP99Ms'],
    scenarios: GROWTH_SIZES.flatMap(([stored, size]) => [
      growthScenario(stored, size, { kind: 'append', batch: 100, concurrency: 32 }),
      growthScenario(stored, size, { kind: 'append', batch: 1, concurrency: 32 }),
      growthScenario(stored, size, { kind: 'otlp', concurrency: 8 }),
    ]),
  },
];

/**
 * The groups, keeping only the named scenarios; a name also selects the scenarios it prefixes up to
 * a dash (`otlp-proto`: otlp-proto-c8 and otlp-proto-c32), and a selected scenario's counterpart
 * (`emmett-b1-c1` brings `append-b1-c1`). Throws on a name that selects nothing.
 */
export function selectScenarios(only: readonly string[] | undefined): ScenarioGroup[] {
  if (!only) return [...SCENARIO_GROUPS];
  const selects = (name: string, scenario: Scenario) => scenario.name === name || scenario.name.startsWith(`${name}-`);
  const all = SCENARIO_GROUPS.flatMap((g) => g.scenarios);
  const unknown = only.filter((name) => !all.some((s) => selects(name, s)));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
  const named = all.filter((s) => only.some((name) => selects(name, s)));
  const chosen = new Set([...named.map((s) => s.name), ...named.flatMap((s) => (s.counterpart === undefined ? [] : [s.counterpart]))]);
  return SCENARIO_GROUPS.map((g) => ({ ...g, scenarios: g.scenarios.filter((s) => chosen.has(s.name)) })).filter((g) => g.scenarios.length > 0);
}
