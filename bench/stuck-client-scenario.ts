import { request, Agent, type ClientRequest, type IncomingMessage } from 'node:http';
import { BrokerClient, sessionWatchUrl, type BenchEvent } from './broker-client.js';
import { RunNotes, type MetricDefinition, type RunContext, type RunResult, type Scenario } from './scenario.js';
import { waitUntil, withTimeout } from './waiting.js';

const OPEN_TIMEOUT_MS = 15_000;
/** How long the broker may take, after the last append, to fill the stuck clients' buffers and pause. */
const SETTLE_TIMEOUT_MS = 15_000;
const SETTLE_POLL_MS = 200;
const EVENT_DATA_BYTES = 64 * 1024;
/**
 * Per stuck client the broker must write more than the two kernel socket buffers of a loopback
 * connection hold (a few MiB each with autotuning) before anything stays in its own memory.
 */
const APPENDED_BYTES = 24 * 1024 * 1024;
const APPEND_EVENTS_PER_REQUEST = 16;

export const STUCK_CLIENT_METRICS: readonly MetricDefinition[] = [
  { key: 'stuckClients', label: 'stuck clients', aggregate: 'median', decimals: 0 },
  { key: 'appendedMiB', label: 'appended MiB', aggregate: 'median', decimals: 0 },
  { key: 'bufferedKiBPerClient', label: 'SSE buffered KiB per stuck client', aggregate: 'median', decimals: 0 },
  { key: 'rssDeltaKiBPerClient', label: 'RSS delta KiB per stuck client', aggregate: 'median', decimals: 0 },
  { key: 'heapDeltaKiBPerClient', label: 'heap delta KiB per stuck client', aggregate: 'median', decimals: 0 },
  { key: 'healthyMissing', label: 'healthy watcher missing', aggregate: 'total', decimals: 0 },
  { key: 'producerFailures', label: 'producer failures', aggregate: 'total', decimals: 0 },
];

/**
 * `clients` SSE watchers of one session that never read (their response streams paused), plus one
 * healthy watcher that reads everything; then 24 MiB of 64 KiB events are appended to the session.
 * The broker must pause the stuck ones (docs/architecture.md#performance-targets: a stuck client costs ≤ 1 MiB) while the healthy
 * one gets every event. Costs come from the broker's /metrics, before the watchers open and once the
 * buffered bytes stop growing: `ark_broker_sse_buffered_bytes` (held for clients, exact), resident
 * memory and V8 heap used (upper bounds: they include the appends' own garbage). Cutting a stuck
 * client after SSE_STALL_TIMEOUT_MS (30 s by default) is left to test/watch.test.ts.
 */
export function stuckClientScenario(clients: number): Scenario {
  return { name: `stuck-clients-${clients}`, run: (context) => runStuckClients(context, clients) };
}

async function runStuckClients(context: RunContext, clients: number): Promise<RunResult> {
  const notes = new RunNotes();
  const sessionId = `${context.sessionPrefix}-stuck`;
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const producer = new BrokerClient(context.baseUrl, 4);
  const before = await brokerMemory(context.baseUrl);
  const stuck = Array.from({ length: clients }, () => new StuckWatcher(sessionWatchUrl(context.baseUrl, sessionId), agent, false));
  const healthy = new StuckWatcher(sessionWatchUrl(context.baseUrl, sessionId), agent, true);
  try {
    await withTimeout(Promise.all([...stuck, healthy].map((w) => w.opened)), OPEN_TIMEOUT_MS, 'the watchers to connect');
    const padding = 'x'.repeat(EVENT_DATA_BYTES);
    const events = Math.ceil(APPENDED_BYTES / EVENT_DATA_BYTES);
    let head = 0;
    let producerFailures = 0;
    for (let index = 0; index < events; index += APPEND_EVENTS_PER_REQUEST) {
      const batch: BenchEvent[] = Array.from({ length: Math.min(APPEND_EVENTS_PER_REQUEST, events - index) }, (_, i) => ({
        sessionId,
        type: 'custom.bench',
        data: { index: index + i, padding },
      }));
      const outcome = await producer.postEvents(JSON.stringify(batch));
      if (!outcome.ok) {
        producerFailures++;
        notes.add(`producer: HTTP ${outcome.status}: ${outcome.message}`);
        continue;
      }
      head = Math.max(head, ...outcome.items.map((item) => item.sequence));
    }
    await waitUntil(() => healthy.lastSequence >= head, SETTLE_TIMEOUT_MS, SETTLE_POLL_MS);
    // The broker writes to the stuck sockets until they are full: wait until what it holds stops growing.
    let after = await brokerMemory(context.baseUrl);
    const settleBy = performance.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS * 5));
      const next = await brokerMemory(context.baseUrl);
      const settled = next.sseBufferedBytes === after.sseBufferedBytes;
      after = next;
      if (settled || performance.now() > settleBy) break;
    }
    const open = stuck.filter((w) => !w.closed).length;
    if (open < clients) notes.add(`${clients - open} stuck clients were disconnected before the figures were read`);
    return {
      figures: {
        stuckClients: clients,
        appendedMiB: (events * EVENT_DATA_BYTES) / 1024 / 1024,
        bufferedKiBPerClient: (after.sseBufferedBytes - before.sseBufferedBytes) / 1024 / clients,
        rssDeltaKiBPerClient: (after.rssBytes - before.rssBytes) / 1024 / clients,
        heapDeltaKiBPerClient: (after.heapUsedBytes - before.heapUsedBytes) / 1024 / clients,
        healthyMissing: Math.max(head - healthy.lastSequence, 0),
        producerFailures,
      },
      notes: notes.list(),
    };
  } finally {
    for (const watcher of [...stuck, healthy]) watcher.close();
    agent.destroy();
    await producer.close();
  }
}

interface BrokerMemory {
  rssBytes: number;
  heapUsedBytes: number;
  sseBufferedBytes: number;
}

/** From the broker's Prometheus metrics (NaN for a broker without them, e.g. a baseline). */
async function brokerMemory(baseUrl: string): Promise<BrokerMemory> {
  const text = await fetch(`${baseUrl}/metrics`).then(
    (response) => (response.ok ? response.text() : ''),
    () => '',
  );
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    rssBytes: metric('process_resident_memory_bytes'),
    heapUsedBytes: metric('nodejs_heap_size_used_bytes'),
    sseBufferedBytes: metric('ark_broker_sse_buffered_bytes'),
  };
}

/** An SSE watcher of one session; a stuck one pauses its response at once and never reads. */
class StuckWatcher {
  lastSequence = 0;
  closed = false;
  readonly opened: Promise<void>;
  private readonly request: ClientRequest;
  private response: IncomingMessage | undefined;
  private pending = '';

  constructor(url: string, agent: Agent, reads: boolean) {
    this.request = request(url, { agent, headers: { accept: 'text/event-stream' } });
    this.opened = new Promise((resolve, reject) => {
      this.request.once('response', (response: IncomingMessage) => {
        this.response = response;
        if (response.statusCode !== 200) {
          reject(new Error(`watch answered HTTP ${response.statusCode}`));
          return;
        }
        response.once('close', () => (this.closed = true));
        if (reads) {
          response.setEncoding('utf8');
          response.on('data', (data: string) => this.receive(data));
        } else {
          response.pause();
        }
        resolve();
      });
      this.request.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.request.end();
  }

  close(): void {
    this.request.destroy();
    this.response?.destroy();
  }

  private receive(data: string): void {
    this.pending += data;
    const end = this.pending.lastIndexOf('\n\n');
    if (end === -1) return;
    for (const match of this.pending.slice(0, end).matchAll(/^id: (\d+)$/gm)) this.lastSequence = Math.max(this.lastSequence, Number(match[1]));
    this.pending = this.pending.slice(end + 2);
  }
}
