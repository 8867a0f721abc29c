import { setTimeout as sleep } from 'node:timers/promises';
import type { EventSource, FetchLike } from 'eventsource';
import { Agent, fetch as undiciFetch } from 'undici';
import { BrokerClient, sessionWatchUrl, type BenchEvent } from './broker-client.js';
import { RunNotes, type MetricDefinition, type RunContext, type RunResult, type Scenario } from './scenario.js';
import { openStream } from './sse-stream.js';
import { sum, summarizeLatencies } from './stats.js';
import { waitUntil, withTimeout } from './waiting.js';

const OPEN_TIMEOUT_MS = 15_000;
/** How long watchers may take, after the last append was answered, to receive everything. */
const DRAIN_TIMEOUT_MS = 10_000;
const DRAIN_POLL_MS = 20;
/** The producer is open-loop; this only stops a stalled broker from piling up requests without bound. */
const MAX_PRODUCER_IN_FLIGHT = 64;

export const WATCH_METRICS: readonly MetricDefinition[] = [
  { key: 'appendedPerSecond', label: 'appended/s', aggregate: 'median', decimals: 0 },
  { key: 'appendP50Ms', label: 'append p50 ms', aggregate: 'median', decimals: 1 },
  { key: 'appendP99Ms', label: 'append p99 ms', aggregate: 'median', decimals: 1 },
  { key: 'deliveries', label: 'deliveries', aggregate: 'median', decimals: 0 },
  { key: 'latencyP50Ms', label: 'p50 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyP95Ms', label: 'p95 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyP99Ms', label: 'p99 ms', aggregate: 'median', decimals: 1 },
  { key: 'latencyMaxMs', label: 'max ms', aggregate: 'median', decimals: 1 },
  { key: 'afterAckP50Ms', label: 'after 201 p50 ms', aggregate: 'median', decimals: 1 },
  { key: 'afterAckP99Ms', label: 'after 201 p99 ms', aggregate: 'median', decimals: 1 },
  { key: 'gaps', label: 'gaps (skipped)', aggregate: 'total', decimals: 0 },
  { key: 'duplicates', label: 'duplicates', aggregate: 'total', decimals: 0 },
  { key: 'missing', label: 'missing', aggregate: 'total', decimals: 0 },
  { key: 'reconnects', label: 'reconnects', aggregate: 'total', decimals: 0 },
  { key: 'producerFailures', label: 'producer failures', aggregate: 'total', decimals: 0 },
];

/** `shared`: every watcher on one session. `own`: each watcher on its own session, the producer writing to all. */
export type WatchLayout = 'shared' | 'own';

/**
 * `watcherCount` SSE watchers; a producer appends `eventsPerSecond` single-event requests, round-robin
 * over the watched sessions, each stamped with its send time. Latency is receive time minus that
 * stamp (one process, one clock): producer→reader, an upper bound on commit→client. "After 201" is
 * receive time minus the time the producer read the append's 201 (negative when the event arrived
 * first): commit→client less commit→201. `nameSuffix` tells apart runs of one layout at other rates.
 */
export function watchScenario(layout: WatchLayout, watcherCount: number, eventsPerSecond: number, nameSuffix = ''): Scenario {
  return {
    name: (layout === 'shared' ? `watch-${watcherCount}-one-session` : `watch-${watcherCount}-own-sessions`) + nameSuffix,
    run: (context) => runWatch(context, layout, watcherCount, eventsPerSecond),
  };
}

async function runWatch(context: RunContext, layout: WatchLayout, watcherCount: number, eventsPerSecond: number): Promise<RunResult> {
  const sessions = layout === 'shared' ? [`${context.sessionPrefix}-shared`] : Array.from({ length: watcherCount }, (_, i) => `${context.sessionPrefix}-s${i}`);
  const notes = new RunNotes();
  const latenciesMs: number[] = [];
  // A dedicated connection pool, so that closing it at the end surely ends every stream.
  const agent = new Agent();
  const fetchThroughAgent: FetchLike = (url, init) => undiciFetch(url, { ...init, dispatcher: agent });
  const watchers = Array.from(
    { length: watcherCount },
    (_, i) => new SessionWatcher(context.baseUrl, sessions[i % sessions.length]!, fetchThroughAgent, latenciesMs, notes),
  );
  const producer = new BrokerClient(context.baseUrl, MAX_PRODUCER_IN_FLIGHT);
  try {
    await withTimeout(Promise.all(watchers.map((w) => w.opened)), OPEN_TIMEOUT_MS, 'watchers to connect');
    const production = await producePaced(producer, sessions, eventsPerSecond, context.durationMs, notes);
    await waitForDelivery(watchers, production.headBySession);
    const latency = summarizeLatencies(latenciesMs);
    const appendLatency = summarizeLatencies(production.latenciesMs);
    const afterAck = summarizeLatencies(watchers.flatMap((w) => w.afterAck(production.ackedAt)));
    return {
      figures: {
        appendedPerSecond: production.appended / (context.durationMs / 1000),
        appendP50Ms: appendLatency.p50,
        appendP99Ms: appendLatency.p99,
        deliveries: sum(watchers.map((w) => w.delivered)),
        latencyP50Ms: latency.p50,
        latencyP95Ms: latency.p95,
        latencyP99Ms: latency.p99,
        latencyMaxMs: latency.max,
        afterAckP50Ms: afterAck.p50,
        afterAckP99Ms: afterAck.p99,
        gaps: sum(watchers.map((w) => w.skipped)),
        duplicates: sum(watchers.map((w) => w.duplicates)),
        missing: sum(watchers.map((w) => Math.max((production.headBySession.get(w.sessionId) ?? 0) - w.lastSequence, 0))),
        reconnects: sum(watchers.map((w) => w.reconnects)),
        producerFailures: production.failures,
      },
      notes: notes.list(),
    };
  } finally {
    for (const watcher of watchers) watcher.close();
    await Promise.all([producer.close(), agent.destroy()]);
  }
}

/** One SSE stream of one session, checking that sequences arrive exactly once and in order. */
class SessionWatcher {
  delivered = 0;
  lastSequence = 0;
  /** Sequences jumped over. */
  skipped = 0;
  duplicates = 0;
  reconnects = 0;
  readonly opened: Promise<void>;
  /** Receive time of each sequence, in order (index 0: the first received). */
  private readonly receivedAt: number[] = [];
  private firstSequence = 0;
  private readonly source: EventSource;

  constructor(
    baseUrl: string,
    readonly sessionId: string,
    fetch: FetchLike,
    private readonly latenciesMs: number[],
    private readonly notes: RunNotes,
  ) {
    // The client reconnects by itself, resuming from Last-Event-ID.
    ({ source: this.source, opened: this.opened } = openStream(sessionWatchUrl(baseUrl, sessionId), fetch, (reason) => {
      this.reconnects++;
      this.notes.add(`watcher of ${sessionId} lost its stream after sequence ${this.lastSequence}: ${reason}`);
    }));
    this.source.onmessage = (message) => this.receive(message);
  }

  close(): void {
    this.source.close();
  }

  /** Receive time minus the producer's 201 time, per event received whose 201 was read. */
  afterAck(ackedAt: ReadonlyMap<string, number>): number[] {
    const delays: number[] = [];
    this.receivedAt.forEach((at, i) => {
      const acked = ackedAt.get(`${this.sessionId}\u0000${this.firstSequence + i}`);
      if (acked !== undefined) delays.push(at - acked);
    });
    return delays;
  }

  private receive(message: MessageEvent): void {
    const receivedAt = performance.timeOrigin + performance.now();
    const sequence = Number(message.lastEventId);
    if (sequence <= this.lastSequence) {
      this.duplicates++;
      this.notes.add(`watcher of ${this.sessionId} got sequence ${sequence} again after ${this.lastSequence}`);
      return;
    }
    if (sequence !== this.lastSequence + 1) {
      this.skipped += sequence - this.lastSequence - 1;
      this.notes.add(`watcher of ${this.sessionId} jumped from sequence ${this.lastSequence} to ${sequence}`);
    }
    this.lastSequence = sequence;
    this.delivered++;
    if (this.receivedAt.length === 0) this.firstSequence = sequence;
    // Indexed by sequence from the first one; a gap (counted above) leaves holes that are skipped.
    this.receivedAt[sequence - this.firstSequence] = receivedAt;
    const event = JSON.parse(message.data as string) as { data?: { sentAt?: unknown } };
    if (typeof event.data?.sentAt === 'number') this.latenciesMs.push(receivedAt - event.data.sentAt);
  }
}

interface Production {
  appended: number;
  failures: number;
  /** Send → 201 of each acknowledged append: the part of the delivery latency spent before the commit was confirmed. */
  latenciesMs: number[];
  /** When each append's 201 was read, keyed `session\0sequence`. */
  ackedAt: Map<string, number>;
  /** The highest sequence acknowledged in each session: what its watchers must reach. */
  headBySession: Map<string, number>;
}

/** Sends single-event appends on a fixed schedule (open loop: a slow answer does not delay the next send). */
async function producePaced(
  client: BrokerClient,
  sessions: readonly string[],
  eventsPerSecond: number,
  durationMs: number,
  notes: RunNotes,
): Promise<Production> {
  const production: Production = { appended: 0, failures: 0, latenciesMs: [], ackedAt: new Map(), headBySession: new Map() };
  const intervalMs = 1000 / eventsPerSecond;
  const total = Math.round(durationMs / intervalMs);
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  for (let index = 0; index < total; index++) {
    const wait = started + index * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    while (inFlight.size >= MAX_PRODUCER_IN_FLIGHT) await Promise.race(inFlight);
    const sessionId = sessions[index % sessions.length]!;
    const request: Promise<void> = appendStamped(client, sessionId, index, production, notes).finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  return production;
}

async function appendStamped(client: BrokerClient, sessionId: string, index: number, production: Production, notes: RunNotes): Promise<void> {
  const sentAt = performance.timeOrigin + performance.now();
  const event: BenchEvent = { sessionId, type: 'custom.bench', data: { index, sentAt } };
  try {
    const outcome = await client.postEvents(JSON.stringify(event));
    if (!outcome.ok) {
      production.failures++;
      notes.add(`producer: HTTP ${outcome.status}: ${outcome.message}`);
      return;
    }
    const ackedAt = performance.timeOrigin + performance.now();
    production.appended++;
    production.latenciesMs.push(ackedAt - sentAt);
    const sequence = outcome.items[0]?.sequence ?? 0;
    production.ackedAt.set(`${sessionId}\u0000${sequence}`, ackedAt);
    if (sequence > (production.headBySession.get(sessionId) ?? 0)) production.headBySession.set(sessionId, sequence);
  } catch (error) {
    production.failures++;
    notes.add(`producer: request failed: ${(error as Error).message}`);
  }
}

function waitForDelivery(watchers: readonly SessionWatcher[], headBySession: ReadonlyMap<string, number>): Promise<void> {
  return waitUntil(() => watchers.every((w) => w.lastSequence >= (headBySession.get(w.sessionId) ?? 0)), DRAIN_TIMEOUT_MS, DRAIN_POLL_MS);
}
