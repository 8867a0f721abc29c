import { Agent as HttpAgent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventSource, FetchLike } from 'eventsource';
import { Agent, fetch as undiciFetch } from 'undici';
import { BrokerClient, sessionWatchUrl, type RawAnswer } from './broker-client.js';
import { ChunkProducer, ChunkReader, now } from './chunk-stream-clients.js';
import { excerpt } from './closed-loop.js';
import { operationEventBody } from './operation-events-scenario.js';
import { BatchTemplate, QUERIES_PER_BATCH, rejectedSpans, SPANS_PER_BATCH } from './otlp-batches.js';
import { withClient } from './postgres-server.js';
import { RunNotes, type Figures, type MetricDefinition, type RunContext, type RunResult, type Scenario } from './scenario.js';
import { openStream } from './sse-stream.js';
import { sum, summarizeLatencies } from './stats.js';
import { waitUntil, withTimeout } from './waiting.js';

/**
 * A mixed "Ark day": a team of agents at work and people watching them, all at once, each part on
 * its own schedule (an agent waits for its own answers; the exporter and the dashboards do not).
 *
 * The team: AGENTS agents, each its own session, each running one query at a time. A query is one
 * LLM completion streamed as chunks (STREAM_SECONDS at TOKENS_PER_SECOND, like a model's output)
 * while the controller reports the query's 12 operation events, then one `POST /messages` of the
 * user's and the assistant's message. So per agent and per STREAM_SECONDS: 12 operation events,
 * 1 chunk stream, 1 messages request. The controller's span exporter sends 100-span OTLP batches.
 * Watching: one SSE watcher per agent session, an SSE reader per chunk stream, a few dashboards
 * that poll the session lists and open a session's aggregate, and `GET /sessions?watch=true`.
 */
const AGENTS = 32;
const STREAM_SECONDS = 2;
const TOKENS_PER_SECOND = 25;
const OPERATION_EVENTS_PER_QUERY = 12;
const OTLP_BATCHES_PER_SECOND = 2;
const DASHBOARDS = 4;
/** Per dashboard: a session list every 2 s (upstream and /v2 each), an aggregate and an upstream session lookup every 0.5 s. */
const LIST_EVERY_SECONDS = 2;
const OPEN_EVERY_SECONDS = 0.5;
const LIST_LIMIT = 50;

const OPEN_TIMEOUT_MS = 15_000;
/** After the producers stop, how long watchers and readers may take to receive what was committed. */
const DRAIN_TIMEOUT_MS = 10_000;
const DRAIN_POLL_MS = 20;
/** Open loop, but bounded: a stalled broker must not pile up requests without limit. */
const MAX_IN_FLIGHT_PER_PART = 32;
const FAILURE_PAUSE_MS = 250;

/** The parts, in report order: `key` prefixes the part's figures (`<key>_perSecond` …). */
export const ARK_DAY_PARTS = [
  { key: 'otlp', label: `OTLP spans (${SPANS_PER_BATCH}-span batches; latency: request)`, v2: false },
  { key: 'operationEvents', label: 'operation events `POST /events` (latency: request)', v2: false },
  { key: 'chunks', label: 'chunks `POST /stream/:q` (latency: producer → SSE reader)', v2: false },
  { key: 'messages', label: 'messages `POST /messages` (requests; latency: request)', v2: false },
  { key: 'sessionList', label: `session list \`GET /sessions?limit=${LIST_LIMIT}\``, v2: false },
  { key: 'sessionLookup', label: 'session `GET /sessions/:id`', v2: false },
  { key: 'v2SessionList', label: `session list \`GET /v2/sessions?limit=${LIST_LIMIT}\``, v2: true },
  { key: 'v2Aggregate', label: 'session aggregate `GET /v2/sessions/:id`', v2: true },
  { key: 'sessionWatch', label: 'session watchers `/v2/sessions/:id/events?watch=true` (deliveries; latency: operation event sent → watcher)', v2: true },
  { key: 'sessionsWatch', label: '`GET /sessions?watch=true` frames', v2: false },
] as const;
type PartKey = (typeof ARK_DAY_PARTS)[number]['key'];

/** Per part: what it was offered and what it did. */
export const ARK_DAY_PART_METRICS: readonly MetricDefinition[] = [
  { key: 'offeredPerSecond', label: 'offered/s', aggregate: 'median', decimals: 0 },
  { key: 'perSecond', label: 'done/s', aggregate: 'median', decimals: 0 },
  { key: 'p50Ms', label: 'p50 ms', aggregate: 'median', decimals: 1 },
  { key: 'p95Ms', label: 'p95 ms', aggregate: 'median', decimals: 1 },
  { key: 'p99Ms', label: 'p99 ms', aggregate: 'median', decimals: 1 },
  { key: 'errors', label: 'errors', aggregate: 'total', decimals: 0 },
];

export const partFigure = (part: string, metric: string): string => `${part}_${metric}`;

/** Every part × metric, for aggregation; the report shows them as one row per part. */
export const ARK_DAY_METRICS: readonly MetricDefinition[] = ARK_DAY_PARTS.flatMap((part) =>
  ARK_DAY_PART_METRICS.map((metric) => ({ ...metric, key: partFigure(part.key, metric.key), label: `${part.key} ${metric.label}` })),
);

export const ARK_DAY_DESCRIPTION =
  `A team of ${AGENTS} agents and the people watching them, all at once, each part on its own schedule. ` +
  `Each agent is one session running one query at a time; a query is one LLM completion streamed to \`POST /stream/<query>\` ` +
  `(${STREAM_SECONDS} s at ${TOKENS_PER_SECOND} chunks/s, with an SSE reader \`GET /stream/<query>\` connected first, then ` +
  '`/complete`; the reader must get every chunk and `[DONE]`) while the controller posts its ' +
  `${OPERATION_EVENTS_PER_QUERY} operation events (\`POST /events\`, spread over the query), then one \`POST /messages\` with ` +
  `the user's and the assistant's message. The controller's exporter sends ${OTLP_BATCHES_PER_SECOND} OTLP protobuf batches/s of ` +
  `${SPANS_PER_BATCH} spans (${QUERIES_PER_BATCH} queries each, their own sessions). Watching: one SSE watcher per agent session ` +
  "(`/v2/sessions/:id/events?watch=true`, from the start; checked gap-free by sequence; latency: the operation event's send " +
  `time, stamped in its data, to the watcher's receive time), ${DASHBOARDS} dashboards each polling \`GET /sessions?limit=${LIST_LIMIT}\` ` +
  `and \`GET /v2/sessions?limit=${LIST_LIMIT}\` every ${LIST_EVERY_SECONDS} s and opening a random agent session every ` +
  `${OPEN_EVERY_SECONDS} s (\`GET /v2/sessions/:id\` and \`GET /sessions/:id\`), each also on \`GET /sessions?watch=true\`. ` +
  "After the run the watchers get up to 10 s to catch up; with the harness's own broker each watcher must have reached its " +
  "session's last sequence. offered/s: what was sent, per second of the run's scheduled time; done/s: answered correctly (or " +
  'delivered) per second from the start until the last answer. An agent waits for its own answers (its next query starts ' +
  "when the last one is answered), so a slow broker lowers the agents' offered load, as it would slow Ark; the OTLP " +
  'exporter and the dashboards keep their schedules. ' +
  'On a --baseline-url the /v2 parts are left out (–).';

interface PartTally {
  offered: number;
  done: number;
  errors: number;
  latenciesMs: number[];
}

type Tallies = Record<PartKey, PartTally>;

export function arkDayScenario(): Scenario {
  return { name: 'ark-day', run: runArkDay };
}

async function runArkDay(context: RunContext): Promise<RunResult> {
  const notes = new RunNotes();
  const tallies = Object.fromEntries(ARK_DAY_PARTS.map((p) => [p.key, { offered: 0, done: 0, errors: 0, latenciesMs: [] }])) as unknown as Tallies;
  const v2 = !context.upstreamOnly;
  const sessions = Array.from({ length: AGENTS }, (_, i) => `${context.sessionPrefix}-agent${i}`);
  const writer = new BrokerClient(context.baseUrl, MAX_IN_FLIGHT_PER_PART * 3);
  const reader = new BrokerClient(context.baseUrl, MAX_IN_FLIGHT_PER_PART);
  const sseAgent = new Agent();
  const sseFetch: FetchLike = (url, init) => undiciFetch(url, { ...init, dispatcher: sseAgent });
  const chunkAgent = new HttpAgent({ keepAlive: false, maxSockets: Infinity });
  const watchers = v2 ? sessions.map((s) => new StampedSessionWatcher(context.baseUrl, s, sseFetch, tallies.sessionWatch, notes)) : [];
  const sessionsWatchers = Array.from(
    { length: DASHBOARDS },
    () => new FrameCounter(`${context.baseUrl}/sessions?watch=true`, sseFetch, tallies.sessionsWatch, notes),
  );
  const chunkReaders: ChunkReader[] = [];
  try {
    await withTimeout(Promise.all([...watchers, ...sessionsWatchers].map((w) => w.opened)), OPEN_TIMEOUT_MS, 'the SSE watchers to connect');
    const started = performance.now();
    const deadline = started + context.durationMs;
    const otlpTemplate = new BatchTemplate(Array.from({ length: QUERIES_PER_BATCH }, (_, q) => `${context.sessionPrefix}-otlp-s${q}`));
    const randomSession = () => sessions[Math.floor(Math.random() * sessions.length)]!;
    const parts: Promise<void>[] = [
      // The agents: per agent one chunk stream after the other, operation events spread over each.
      ...sessions.map((sessionId, agent) => runAgent(context, sessionId, agent, deadline, writer, chunkAgent, chunkReaders, tallies, notes)),
      schedule(OTLP_BATCHES_PER_SECOND, started, deadline, tallies.otlp, SPANS_PER_BATCH, notes, async () => {
        const answer = await writer.post('/v1/traces', otlpTemplate.next(), 'application/x-protobuf');
        if (answer.status !== 200) return `HTTP ${answer.status}: ${excerpt(answer.body)}`;
        const { rejected, message } = rejectedSpans(answer.body);
        return rejected === 0 ? undefined : `partial success: ${rejected} rejected: ${message}`;
      }),
      schedule(DASHBOARDS / LIST_EVERY_SECONDS, started, deadline, tallies.sessionList, 1, notes, async () =>
        expectJson(await reader.get(`/sessions?limit=${LIST_LIMIT}`), 'GET /sessions'),
      ),
      schedule(DASHBOARDS / OPEN_EVERY_SECONDS, started, deadline, tallies.sessionLookup, 1, notes, async () =>
        expectJson(await reader.get(`/sessions/${encodeURIComponent(randomSession())}`), 'GET /sessions/:id', [404]),
      ),
      ...(v2
        ? [
            schedule(DASHBOARDS / LIST_EVERY_SECONDS, started, deadline, tallies.v2SessionList, 1, notes, async () =>
              expectJson(await reader.get(`/v2/sessions?limit=${LIST_LIMIT}`), 'GET /v2/sessions'),
            ),
            schedule(DASHBOARDS / OPEN_EVERY_SECONDS, started, deadline, tallies.v2Aggregate, 1, notes, async () =>
              expectJson(await reader.get(`/v2/sessions/${encodeURIComponent(randomSession())}`), 'GET /v2/sessions/:id', [404]),
            ),
          ]
        : []),
    ];
    await Promise.all(parts);
    const runSeconds = (performance.now() - started) / 1000;
    const heads = context.databaseUrl === undefined ? undefined : await sessionHeads(context.databaseUrl, sessions);
    await waitUntil(
      () =>
        chunkReaders.every((r) => (r.done && r.ended) || r.failure !== undefined) &&
        watchers.every((w) => heads === undefined || w.lastSequence >= (heads.get(w.sessionId) ?? 0)),
      DRAIN_TIMEOUT_MS,
      DRAIN_POLL_MS,
    );
    for (const r of chunkReaders) {
      if (r.done && r.ended && r.duplicates === 0 && r.skipped === 0) continue;
      tallies.chunks.errors++;
      notes.add(
        `reader of ${r.queryId}: ${r.done ? '' : 'no [DONE], '}${r.received} chunks, ${r.skipped} skipped, ${r.duplicates} duplicates${r.failure ? `, ${r.failure}` : ''}`,
      );
    }
    for (const w of watchers) {
      const head = heads?.get(w.sessionId) ?? 0;
      const missing = Math.max(head - w.lastSequence, 0);
      tallies.sessionWatch.errors += w.skipped + w.duplicates + missing;
      if (missing > 0) notes.add(`watcher of ${w.sessionId}: at sequence ${w.lastSequence} of ${head} after the drain`);
    }
    tallies.sessionWatch.done = sum(watchers.map((w) => w.delivered));
    return { figures: figuresOf(tallies, context.durationMs / 1000, runSeconds, v2), notes: notes.list() };
  } finally {
    for (const w of [...watchers, ...sessionsWatchers]) w.close();
    for (const r of chunkReaders) r.close();
    chunkAgent.destroy();
    await Promise.all([writer.close(), reader.close(), sseAgent.destroy()]);
  }
}

/**
 * One agent: queries back to back until `deadline`. Each query opens the chunk reader, streams
 * STREAM_SECONDS of paced chunks while posting the query's operation events at even intervals,
 * completes the stream, then posts the conversation's messages.
 */
async function runAgent(
  context: RunContext,
  sessionId: string,
  agent: number,
  deadline: number,
  client: BrokerClient,
  chunkAgent: HttpAgent,
  chunkReaders: ChunkReader[],
  tallies: Tallies,
  notes: RunNotes,
): Promise<void> {
  // Staggered, so the agents' queries do not all start in the same millisecond.
  await sleep(((agent / AGENTS) * STREAM_SECONDS * 1000) / 2);
  for (let query = 0; performance.now() < deadline; query++) {
    const queryId = `${sessionId}-q${query}`;
    const chunkReader = new ChunkReader(context.baseUrl, queryId, chunkAgent, tallies.chunks.latenciesMs, notes);
    chunkReaders.push(chunkReader);
    try {
      await withTimeout(chunkReader.opened, OPEN_TIMEOUT_MS, `the reader of ${queryId}`);
    } catch (error) {
      tallies.chunks.errors++;
      notes.add((error as Error).message);
      // A broker refusing the reader must not be hammered in a tight loop.
      await sleep(FAILURE_PAUSE_MS);
      continue;
    }
    const streamStart = performance.now();
    const streamEnd = Math.min(streamStart + STREAM_SECONDS * 1000, deadline);
    // The run ended while the reader opened: a query without time for one chunk is not started (its
    // `/complete` would rightly answer 404, upstream's answer for a stream that has no chunk).
    if (streamEnd - streamStart < 1000 / TOKENS_PER_SECOND) {
      chunkReader.close();
      chunkReaders.splice(chunkReaders.indexOf(chunkReader), 1);
      break;
    }
    const producer = new ChunkProducer(context.baseUrl, queryId, agent, chunkAgent);
    const events = postOperationEvents(client, sessionId, agent, query, streamStart, streamEnd, tallies.operationEvents, notes);
    await producer.producePaced(streamStart, 1000 / TOKENS_PER_SECOND, streamEnd);
    tallies.chunks.offered += producer.sent;
    const failure = await producer.finish();
    if (failure === undefined) tallies.chunks.done += producer.sent;
    else {
      tallies.chunks.errors++;
      notes.add(`upload of ${queryId}: ${failure}`);
    }
    try {
      const completed = await client.post(`/stream/${encodeURIComponent(queryId)}/complete`, '', 'application/json');
      if (completed.status !== 200) throw new Error(`HTTP ${completed.status}: ${excerpt(completed.body)}`);
    } catch (error) {
      tallies.chunks.errors++;
      notes.add(`complete of ${queryId}: ${(error as Error).message}`);
    }
    await events;
    await countOutcome(tallies.messages, 1, notes, async () => {
      const answer = await client.post('/messages', messagesBody(sessionId, queryId, query), 'application/json');
      return answer.status === 200 ? undefined : `POST /messages: HTTP ${answer.status}: ${excerpt(answer.body)}`;
    });
  }
}

/** The query's lifecycle events, evenly over [from, until), each stamped with its send time. */
async function postOperationEvents(
  client: BrokerClient,
  sessionId: string,
  agent: number,
  query: number,
  from: number,
  until: number,
  tally: PartTally,
  notes: RunNotes,
): Promise<void> {
  const interval = (until - from) / OPERATION_EVENTS_PER_QUERY;
  const sent: Promise<void>[] = [];
  for (let step = 0; step < OPERATION_EVENTS_PER_QUERY; step++) {
    const wait = from + step * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const iteration = query * OPERATION_EVENTS_PER_QUERY + step;
    sent.push(
      countOutcome(tally, 1, notes, async () => {
        const answer = await client.post('/events', operationEventBody(sessionId, agent, iteration, { benchSentAt: now() }), 'application/json');
        return answer.status === 201 ? undefined : `POST /events: HTTP ${answer.status}: ${excerpt(answer.body)}`;
      }),
    );
  }
  await Promise.all(sent);
}

/** Upstream memory's body: the conversation is the agent's session, the query the one just answered. */
function messagesBody(sessionId: string, queryId: string, query: number): string {
  return JSON.stringify({
    conversation_id: sessionId,
    query_id: queryId,
    messages: [
      { role: 'user', content: `Question ${query}: what is the weather like in Paris today?` },
      { role: 'assistant', content: 'Hello there, the weather in Paris is sunny today. Enjoy!' },
    ],
  });
}

/**
 * `perSecond` calls of `send` on a fixed schedule from `started` until `deadline` (open loop), at
 * most MAX_IN_FLIGHT_PER_PART at once. `send` resolves to undefined when the answer was right, else
 * to what was wrong.
 */
async function schedule(
  perSecond: number,
  started: number,
  deadline: number,
  tally: PartTally,
  units: number,
  notes: RunNotes,
  send: () => Promise<string | undefined>,
): Promise<void> {
  const intervalMs = 1000 / perSecond;
  const inFlight = new Set<Promise<void>>();
  for (let at = started; at < deadline; at += intervalMs) {
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    while (inFlight.size >= MAX_IN_FLIGHT_PER_PART) await Promise.race(inFlight);
    const request: Promise<void> = countOutcome(tally, units, notes, send).finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
}

async function countOutcome(tally: PartTally, units: number, notes: RunNotes, send: () => Promise<string | undefined>): Promise<void> {
  tally.offered += units;
  const began = performance.now();
  try {
    const problem = await send();
    if (problem === undefined) {
      tally.done += units;
      tally.latenciesMs.push(performance.now() - began);
      return;
    }
    tally.errors++;
    notes.add(problem);
  } catch (error) {
    tally.errors++;
    notes.add(`request failed: ${(error as Error).message}`);
  }
}

function expectJson(answer: RawAnswer, what: string, alsoFine: readonly number[] = []): string | undefined {
  if (alsoFine.includes(answer.status)) return undefined;
  if (answer.status !== 200) return `${what}: HTTP ${answer.status}: ${excerpt(answer.body)}`;
  try {
    JSON.parse(answer.body.toString());
    return undefined;
  } catch {
    return `${what}: 200 with a body that is not JSON: ${excerpt(answer.body)}`;
  }
}

async function sessionHeads(databaseUrl: string, sessions: readonly string[]): Promise<Map<string, number>> {
  return withClient(databaseUrl, async (client) => {
    const result = await client.query<{ session_id: string; last_sequence: string }>(
      'SELECT session_id, last_sequence FROM event_streams WHERE session_id = ANY($1)',
      [sessions],
    );
    return new Map(result.rows.map((row) => [row.session_id, Number(row.last_sequence)]));
  });
}

/** offered/s over the scheduled time; done/s over the time until the last request was answered. */
function figuresOf(tallies: Tallies, scheduledSeconds: number, runSeconds: number, v2: boolean): Figures {
  const figures: Figures = {};
  for (const part of ARK_DAY_PARTS) {
    if (part.v2 && !v2) continue;
    const tally = tallies[part.key];
    const latency = summarizeLatencies(tally.latenciesMs);
    const set = (metric: string, value: number) => (figures[partFigure(part.key, metric)] = value);
    if (part.key !== 'sessionWatch' && part.key !== 'sessionsWatch') set('offeredPerSecond', tally.offered / scheduledSeconds);
    set('perSecond', tally.done / runSeconds);
    if (tally.latenciesMs.length > 0) {
      set('p50Ms', latency.p50);
      set('p95Ms', latency.p95);
      set('p99Ms', latency.p99);
    }
    set('errors', tally.errors);
  }
  return figures;
}

/** An SSE watcher of one session from its start, checking sequences and timing the stamped operation events. */
class StampedSessionWatcher {
  delivered = 0;
  lastSequence = 0;
  skipped = 0;
  duplicates = 0;
  readonly opened: Promise<void>;
  private readonly source: EventSource;

  constructor(
    baseUrl: string,
    readonly sessionId: string,
    fetch: FetchLike,
    private readonly tally: PartTally,
    notes: RunNotes,
  ) {
    ({ source: this.source, opened: this.opened } = openStream(sessionWatchUrl(baseUrl, sessionId), fetch, (reason) =>
      notes.add(`watcher of ${sessionId} lost its stream after sequence ${this.lastSequence}: ${reason}`),
    ));
    this.source.onmessage = (message) => this.receive(message);
  }

  close(): void {
    this.source.close();
  }

  private receive(message: MessageEvent): void {
    const receivedAt = now();
    const sequence = Number(message.lastEventId);
    if (sequence <= this.lastSequence) {
      this.duplicates++;
      return;
    }
    this.skipped += sequence - this.lastSequence - 1;
    this.lastSequence = sequence;
    this.delivered++;
    const event = JSON.parse(message.data as string) as { data?: { operationEvent?: { data?: { benchSentAt?: unknown } } } };
    const sentAt = event.data?.operationEvent?.data?.benchSentAt;
    if (typeof sentAt === 'number') this.tally.latenciesMs.push(receivedAt - sentAt);
  }
}

/** Counts the data frames of an SSE stream (`GET /sessions?watch=true`: one per session change). */
class FrameCounter {
  readonly opened: Promise<void>;
  private readonly source: EventSource;

  constructor(url: string, fetch: FetchLike, tally: PartTally, notes: RunNotes) {
    ({ source: this.source, opened: this.opened } = openStream(url, fetch, (reason) => {
      tally.errors++;
      notes.add(`${url} lost its stream: ${reason}`);
    }));
    this.source.onmessage = () => tally.done++;
  }

  close(): void {
    this.source.close();
  }
}
