import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { BrokerProcess } from './broker-process.js';
import { readProcessMemory } from './proc-stats.js';
import { createBenchDatabase, type BenchDatabase } from './postgres-server.js';
import { progress } from './runner.js';
import { summarizeLatencies, type LatencySummary } from './stats.js';

export const ISOLATION_USAGE = `Usage: npm run bench -- isolation [options]

A quiet tenant beside an abusive one (issue #19, "no tenant can starve another"). The quiet tenant
sends one POST /v2/events (1 event) and one GET /v2/sessions/:id/events?limit=100 every 50 ms,
open loop, first alone and then beside each load of the noisy tenant:

  pages   6 readers looping GET /v2/sessions/:id/events?limit=60 on a session of ~9.5 MB events
  feed    16 readers looping GET /v2/events?limit=100 over those events
  flood   8 writers looping POST /v2/events with 1,000-event batches

Starts a broker in AUTH_MODE=header on a fresh database (the identity is the proxy's headers).

  --seconds <n>        per load (default 8)
  --only <loads>       comma-separated subset of pages,feed,flood (default all)
  --big-events <n>     ~9.5 MB events seeded for the readers (default 16)
  --database-url <url> PostgreSQL server (default $BENCH_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres)
  --setting K=V        an extra broker setting (repeatable), e.g. --setting READ_PAGE_MAX_BYTES=1048576`;

const LOADS = ['pages', 'feed', 'flood'] as const;
type Load = (typeof LOADS)[number];
const QUIET_INTERVAL_MS = 50;
const BIG_EVENT_BYTES = 9.5 * 1024 * 1024;
const FLOOD_BATCH = 1_000;

interface Identity {
  tenant: string;
  roles: string;
}
const QUIET: Identity = { tenant: 'quiet', roles: 'producer,admin' };
const NOISY: Identity = { tenant: 'noisy', roles: 'producer,admin' };

interface Answer {
  status: number;
  bytes: number;
  ms: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One request; the body is counted, never parsed, so the harness spends little on big answers. */
function send(url: string, who: Identity, method: 'GET' | 'POST', body?: Buffer | string): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          'x-ark-tenant': who.tenant,
          'x-ark-user': `${who.tenant}-user`,
          'x-ark-roles': who.roles,
          ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - started }));
        res.on('error', () => resolve({ status: 0, bytes, ms: performance.now() - started }));
      },
    );
    req.on('error', () => resolve({ status: 0, bytes: 0, ms: performance.now() - started }));
    req.end(body);
  });
}

const eventsBody = (sessionId: string, count: number, data: (i: number) => unknown) =>
  JSON.stringify(Array.from({ length: count }, (_, i) => ({ sessionId, type: 'custom.isolation', data: data(i) })));

interface LoadFigures {
  requests: number;
  failed: number;
  mebibytes: number;
}

/** Workers repeating one request until `until`. */
async function loop(workers: number, until: number, once: () => Promise<Answer>): Promise<LoadFigures> {
  const figures = { requests: 0, failed: 0, mebibytes: 0 };
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        const answer = await once();
        figures.requests++;
        figures.mebibytes += answer.bytes / 1024 / 1024;
        if (answer.status < 200 || answer.status >= 300) {
          figures.failed++;
          if (answer.status === 429 || answer.status === 503) await sleep(100);
        }
      }
    }),
  );
  return figures;
}

function runLoad(load: Load, url: string, until: number, bigSession: string, prefix: string): Promise<LoadFigures> {
  switch (load) {
    case 'pages':
      return loop(6, until, () => send(`${url}/v2/sessions/${bigSession}/events?limit=60`, NOISY, 'GET'));
    case 'feed':
      return loop(16, until, () => send(`${url}/v2/events?limit=100`, NOISY, 'GET'));
    case 'flood': {
      let n = 0;
      const pad = 'x'.repeat(100);
      return loop(8, until, () =>
        send(
          `${url}/v2/events`,
          NOISY,
          'POST',
          eventsBody(`${prefix}-flood-${n++ % 8}`, FLOOD_BATCH, (i) => ({ i, pad })),
        ),
      );
    }
  }
}

interface QuietFigures {
  post: LatencySummary;
  get: LatencySummary;
  failed: number;
}

/** The quiet tenant, open loop: a request is sent on time even when earlier ones are still waiting. */
async function quietTenant(url: string, sessionId: string, until: number): Promise<QuietFigures> {
  const posts: Answer[] = [];
  const gets: Answer[] = [];
  const pending: Promise<void>[] = [];
  let i = 0;
  // The session exists before the first read, so every GET should answer 200.
  await send(
    `${url}/v2/events`,
    QUIET,
    'POST',
    eventsBody(sessionId, 1, () => ({ i: i++ })),
  );
  for (let next = performance.now(); next < until; next += QUIET_INTERVAL_MS) {
    await sleep(Math.max(0, next - performance.now()));
    const body = eventsBody(sessionId, 1, () => ({ i: i++ }));
    pending.push(send(`${url}/v2/events`, QUIET, 'POST', body).then((a) => void posts.push(a)));
    pending.push(send(`${url}/v2/sessions/${sessionId}/events?limit=100`, QUIET, 'GET').then((a) => void gets.push(a)));
  }
  await Promise.all(pending);
  const failed = [...posts, ...gets].filter((a) => a.status < 200 || a.status >= 300).length;
  return { post: summarizeLatencies(posts.map((a) => a.ms)), get: summarizeLatencies(gets.map((a) => a.ms)), failed };
}

/** The broker's event-loop delay p99 and max since the previous read (prom-client resets it on every scrape). */
async function eventLoopDelayMs(url: string): Promise<{ p99: number; max: number }> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const metric = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN) * 1000;
  return { p99: metric('nodejs_eventloop_lag_p99_seconds'), max: metric('nodejs_eventloop_lag_max_seconds') };
}

async function peakRssMiB(pid: number): Promise<number> {
  return Math.round((await readProcessMemory(pid)).peakRssMiB);
}

export async function runTenantIsolation(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      seconds: { type: 'string', default: '8' },
      only: { type: 'string', default: LOADS.join(',') },
      'big-events': { type: 'string', default: '16' },
      'database-url': { type: 'string', default: process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
      setting: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(ISOLATION_USAGE);
    return 0;
  }
  const loads = values.only.split(',').map((l) => {
    if (!(LOADS as readonly string[]).includes(l)) throw new Error(`unknown load ${l}\n\n${ISOLATION_USAGE}`);
    return l as Load;
  });
  const seconds = Number(values.seconds);
  const settings = Object.fromEntries(values.setting.map((kv) => kv.split(/=(.*)/s, 2) as [string, string]));
  const startedAt = new Date();
  const prefix = `iso${startedAt.getTime()}`;
  let database: BenchDatabase | undefined;
  let broker: BrokerProcess | undefined;
  try {
    database = await createBenchDatabase(values['database-url'], startedAt, 'isolation');
    broker = await BrokerProcess.start(database.url, undefined, { AUTH_MODE: 'header', AUTH_TRUSTED_PROXIES: '127.0.0.1', ...settings });
    const url = broker.url;
    const bigSession = `${prefix}-big`;
    if (loads.some((l) => l !== 'flood')) {
      progress(`seeding ${values['big-events']} events of ${(BIG_EVENT_BYTES / 1024 / 1024).toFixed(1)} MiB`);
      const pad = 'x'.repeat(BIG_EVENT_BYTES);
      for (let i = 0; i < Number(values['big-events']); i++) {
        const answer = await send(
          `${url}/v2/events`,
          NOISY,
          'POST',
          eventsBody(bigSession, 1, () => ({ i, pad })),
        );
        if (answer.status !== 201) throw new Error(`seeding a big event: HTTP ${answer.status}`);
      }
    }
    const rows: string[] = [];
    const measure = async (name: string, load?: Load) => {
      progress(`quiet tenant ${load ? `beside ${name}` : name} for ${seconds} s`);
      await eventLoopDelayMs(url);
      const until = performance.now() + seconds * 1000;
      const [quiet, noisy] = await Promise.all([
        quietTenant(url, `${prefix}-quiet-${name}`, until),
        load ? runLoad(load, url, until, bigSession, prefix) : Promise.resolve(undefined),
      ]);
      const loop = await eventLoopDelayMs(url);
      const rss = await peakRssMiB(broker!.pid);
      const f = (s: LatencySummary) => `${s.p50.toFixed(1)} / ${s.p95.toFixed(1)} / ${s.p99.toFixed(1)}`;
      const loadText = noisy
        ? `${(noisy.requests / seconds).toFixed(1)} req/s, ${(noisy.mebibytes / seconds).toFixed(1)} MiB/s answered, ${noisy.failed} non-2xx`
        : '–';
      rows.push(`| ${name} | ${f(quiet.post)} | ${f(quiet.get)} | ${quiet.failed} | ${loadText} | ${loop.p99.toFixed(0)} / ${loop.max.toFixed(0)} | ${rss} |`);
    };
    await measure('alone');
    for (const load of loads) {
      await measure(load, load);
      await sleep(1_000);
    }
    console.log(
      [
        `Quiet tenant beside each load, ${seconds} s each (${startedAt.toISOString()}; \`node dist/bench/run.js isolation ${argv.join(' ')}\`):`,
        '',
        '| load | quiet POST p50 / p95 / p99 ms | quiet GET p50 / p95 / p99 ms | quiet non-2xx | noisy tenant | broker event-loop delay p99 / max ms | broker peak RSS MiB |',
        '|---|---|---|---|---|---|---|',
        ...rows,
      ].join('\n'),
    );
    return 0;
  } finally {
    await broker?.stop();
    await database?.drop();
    agent.destroy();
  }
}
