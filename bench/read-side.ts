import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import type { QueryBus } from '@nestjs/cqrs';
import { BROKER_ROLE, createPool, type Database, type DatabaseConnection } from '#ark/database';
import { SessionsRepository } from '../apps/broker/src/compat/sessions/sessions.repository.js';
import { LlmCallRepository } from '../apps/broker/src/sessions-v2/llm-call.repository.js';
import { QueryRepository } from '../apps/broker/src/sessions-v2/query.repository.js';
import { RawEventRepository } from '../apps/broker/src/sessions-v2/raw-event.repository.js';
import { SessionSummaryRepository, type SessionListFilters } from '../apps/broker/src/sessions-v2/session-summary.repository.js';
import { SessionsV2Service } from '../apps/broker/src/sessions-v2/sessions-v2.service.js';
import { ToolCallRepository } from '../apps/broker/src/sessions-v2/tool-call.repository.js';
import { TracesRepository } from '../apps/broker/src/compat/traces/traces.repository.js';
import { BrokerProcess } from './broker-process.js';
import { describeEnvironment } from './environment.js';
import { withClient } from './postgres-server.js';
import { captureTemplates, DEFAULT_SEED_PLAN, seedEvents, type SeedPlan, type SeedReport } from './seed-events.js';
import { summarizeLatencies, type LatencySummary } from './stats.js';
import { READ_SIDE_BEGIN, READ_SIDE_END } from './report.js';
import { progress } from './runner.js';

const CLI_MAIN = fileURLToPath(new URL('../apps/cli/src/main.js', import.meta.url));
const BENCH_DIR = fileURLToPath(new URL('../../bench/', import.meta.url));
/** Tables whose sequential scan would grow with the data. */
const BIG_TABLES = ['events', 'event_streams', 'sessions', 'session_queries', 'queries', 'tool_calls', 'llm_calls', 'messages', 'traces'];

export const READ_USAGE = `Usage: npm run bench -- read [options]

Seeds an Ark-shaped event log (bench/seed-events.ts), builds the read models with
\`ark-broker projections rebuild\`, starts the broker on it and measures the read routes
(sequential requests; p50/p99), with EXPLAIN (ANALYZE, BUFFERS) of every query behind them.

  --events <n>            events to seed (default 1000000; e.g. 10000000)
  --sessions <n>          sessions (default events / 100)
  --big-sessions <n>      sessions of --big-session-events events each (default 5)
  --big-session-events <n>  events of each big session (default 10000; e.g. 100000)
  --requests <n>          measured requests per case (default 200, after 20 warm-up requests)
  --database-url <url>    PostgreSQL server (default $BENCH_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres)
  --keep                  keep the database (ark_bench_read_<events>) instead of dropping it
  --reuse                 measure an existing kept database instead of seeding a new one`;

interface ReadOptions {
  plan: SeedPlan;
  requests: number;
  serverUrl: string;
  keep: boolean;
  reuse: boolean;
}

function parseReadOptions(argv: readonly string[], env: Record<string, string | undefined>): ReadOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      events: { type: 'string', default: '1000000' },
      sessions: { type: 'string' },
      'big-sessions': { type: 'string', default: '5' },
      'big-session-events': { type: 'string', default: '10000' },
      requests: { type: 'string', default: '200' },
      'database-url': { type: 'string' },
      keep: { type: 'boolean', default: false },
      reuse: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, text: string) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  const events = int('events', values.events);
  return {
    plan: {
      ...DEFAULT_SEED_PLAN,
      events,
      sessions: values.sessions ? int('sessions', values.sessions) : Math.max(1, Math.round(events / 100)),
      bigSessions: int('big-sessions', values['big-sessions']),
      bigSessionEvents: int('big-session-events', values['big-session-events']),
    },
    requests: int('requests', values.requests),
    serverUrl: values['database-url'] ?? env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    keep: values.keep,
    reuse: values.reuse,
  };
}

interface ReadCase {
  name: string;
  /** Request paths, used round-robin. */
  paths: string[];
  /** Runs the repository call behind the route (its SQL is captured and explained). */
  explain: (repositories: ReadRepositories) => Promise<unknown>;
}

interface ReadRepositories {
  v2: SessionsV2Service;
  compat: SessionsRepository;
  traces: TracesRepository;
  db: Kysely<Database>;
}

function readCases(tenantId: string, bigSessionIds: readonly string[], plan: SeedPlan): ReadCase[] {
  const scope = { tenantId };
  const day = 86_400_000;
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const typical = Array.from(
    { length: 50 },
    (_, i) => `seed-${String(plan.bigSessions + ((i * 7919) % Math.max(1, plan.sessions - plan.bigSessions))).padStart(6, '0')}`,
  );
  const users = Array.from({ length: 20 }, (_, i) => `user-${String((i * 37) % plan.users).padStart(4, '0')}`);
  const list = (name: string, queries: string[], filters: SessionListFilters): ReadCase => ({
    name,
    paths: queries.map((q) => `/v2/sessions?limit=50${q ? `&${q}` : ''}`),
    explain: ({ v2 }) => v2.listSessions(scope, filters, 50, undefined),
  });
  return [
    {
      name: `GET /v2/sessions/:id (${plan.bigSessionEvents.toLocaleString('en')}-event session)`,
      paths: bigSessionIds.map((id) => `/v2/sessions/${id}`),
      explain: ({ v2 }) => v2.aggregate(scope, bigSessionIds[0]!),
    },
    {
      name: 'GET /v2/sessions/:id (typical session)',
      paths: typical.map((id) => `/v2/sessions/${id}`),
      explain: ({ v2 }) => v2.aggregate(scope, typical[0]!),
    },
    list('GET /v2/sessions (no filter)', [''], {}),
    list('GET /v2/sessions status=active', ['status=active'], { status: 'active' }),
    list('GET /v2/sessions status=error', ['status=error'], { status: 'error' }),
    list('GET /v2/sessions status=idle', ['status=idle'], { status: 'idle' }),
    list(
      'GET /v2/sessions userId',
      users.map((u) => `userId=${u}`),
      { userId: users[0] },
    ),
    list('GET /v2/sessions namespace=team-b', ['namespace=team-b'], { namespace: 'team-b' }),
    list('GET /v2/sessions namespace=finance (rare)', ['namespace=finance'], { namespace: 'finance' }),
    list('GET /v2/sessions from (last day)', [`from=${iso(now - day)}`], { from: new Date(now - day) }),
    list('GET /v2/sessions from/to (a day, 2 weeks ago)', [`from=${iso(now - 15 * day)}&to=${iso(now - 14 * day)}`], {
      from: new Date(now - 15 * day),
      to: new Date(now - 14 * day),
    }),
    list('GET /v2/sessions search (session id)', ['search=seed-0123'], { search: 'seed-0123' }),
    list('GET /v2/sessions search (query name)', ['search=research'], { search: 'research' }),
    list('GET /v2/sessions agent', ['agent=researcher'], { agent: 'researcher' }),
    list('GET /v2/sessions hasErrors=true', ['hasErrors=true'], { hasErrors: true }),
    list('GET /v2/sessions hasErrors=false', ['hasErrors=false'], { hasErrors: false }),
    {
      name: 'GET /sessions?limit=50&cursor=0 (upstream paginated)',
      paths: ['/sessions?limit=50&cursor=0'],
      explain: ({ compat }) => compat.page({ tenantId }, {}, 0, 50),
    },
    {
      name: 'GET /sessions?limit=50&cursor=5000 (upstream, page 101)',
      paths: ['/sessions?limit=50&cursor=5000'],
      explain: ({ compat }) => compat.page({ tenantId }, {}, 5000, 50),
    },
    {
      name: 'GET /sessions?limit=50&status=active (upstream)',
      paths: ['/sessions?limit=50&cursor=0&status=active'],
      explain: ({ compat }) => compat.page({ tenantId }, { status: 'active' }, 0, 50),
    },
    {
      name: 'GET /sessions?limit=50&sort=date&order=desc (upstream)',
      paths: ['/sessions?limit=50&cursor=0&sort=date&order=desc'],
      explain: ({ compat }) => compat.page({ tenantId }, { sort: 'date', order: 'desc' }, 0, 50),
    },
    {
      name: 'GET /sessions?limit=50&search (upstream)',
      paths: ['/sessions?limit=50&cursor=0&search=researcher'],
      explain: ({ compat }) => compat.page({ tenantId }, { search: 'researcher' }, 0, 50),
    },
    // A tenant's trace list pages the `traces` read model (0091), by session it groups span events (0090);
    // upstream's `total` counts every trace the filter admits.
    { name: 'GET /traces?limit=20 (upstream)', paths: ['/traces?limit=20'], explain: ({ traces }) => traces.listTraces(scope, { limit: 20 }) },
    {
      name: 'GET /traces?limit=20&session_id (upstream)',
      paths: typical.map((id) => `/traces?limit=20&session_id=${id}`),
      explain: ({ traces }) => traces.listTraces(scope, { arkSessionId: typical[0], limit: 20 }),
    },
    {
      name: 'GET /sessions?limit=50&dateFrom/dateTo (upstream)',
      paths: [`/sessions?limit=50&cursor=0&dateFrom=${iso(now - 15 * day)}&dateTo=${iso(now - 14 * day)}`],
      explain: ({ compat }) => compat.page({ tenantId }, { dateFrom: new Date(now - 15 * day), dateTo: new Date(now - 14 * day) }, 0, 50),
    },
  ];
}

interface CaseResult {
  name: string;
  latency: LatencySummary;
  bytes: number;
  statements: number;
  seqScans: string[];
}

async function measure(url: string, paths: readonly string[], requests: number): Promise<{ latency: LatencySummary; bytes: number }> {
  const samples: number[] = [];
  let bytes = 0;
  for (let i = -20; i < requests; i++) {
    const path = paths[(i + 20) % paths.length]!;
    const started = performance.now();
    const res = await fetch(`${url}${path}`);
    const body = await res.arrayBuffer();
    const ms = performance.now() - started;
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${Buffer.from(body).toString().slice(0, 300)}`);
    if (i >= 0) samples.push(ms);
    bytes = body.byteLength;
  }
  return { latency: summarizeLatencies(samples), bytes };
}

/** EXPLAIN (ANALYZE, BUFFERS) of every statement the case's repository call runs. */
async function explain(databaseUrl: string, tenantId: string, c: ReadCase): Promise<{ plans: string; statements: number; seqScans: string[] }> {
  const captured: CompiledQuery[] = [];
  // As the broker runs them: its role, so the plans carry row-level security's filters, and the
  // tenant scope its transactions set (migrations/0030), without which the owner-rights search and
  // span functions answer nothing and their plans show no work.
  const pool = createPool({
    connectionString: databaseUrl,
    max: 4,
    applicationName: 'ark-bench-explain',
    role: BROKER_ROLE,
    settings: { 'ark.tenant_ids': `{${tenantId}}` },
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: (e) => void (e.level === 'query' && captured.push(e.query)) });
  try {
    const connection = { db } as DatabaseConnection;
    const v2 = new SessionsV2Service(
      connection,
      new SessionSummaryRepository(connection),
      new QueryRepository(connection),
      new ToolCallRepository(connection),
      new LlmCallRepository(connection),
      new RawEventRepository(connection),
      // The plans explained are the read models'; the execution queue is not asked.
      { execute: () => Promise.resolve(undefined) } as unknown as QueryBus,
    );
    await c.explain({ v2, compat: new SessionsRepository(connection), traces: new TracesRepository(connection), db });
    let plans = '';
    const seqScans = new Set<string>();
    // Transaction control (a repeatable-read aggregate read) has no plan.
    const explainable = captured.filter((q) => !/^\s*(start transaction|begin|commit|rollback)\b/i.test(q.sql));
    for (const q of explainable) {
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, [...q.parameters]);
      const text = rows.map((r) => r['QUERY PLAN']).join('\n');
      for (const m of text.matchAll(/Seq Scan on (\w+)/g)) if (BIG_TABLES.includes(m[1]!)) seqScans.add(m[1]!);
      plans += `-- ${q.sql.replace(/\s+/g, ' ').trim()}\n-- parameters: ${JSON.stringify(q.parameters).slice(0, 300)}\n${text}\n\n`;
    }
    return { plans, statements: explainable.length, seqScans: [...seqScans] };
  } finally {
    await db.destroy();
  }
}

function runCli(args: string[], databaseUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`ark-broker ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

async function tableSizes(databaseUrl: string): Promise<{ table: string; rows: number; mib: number }[]> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ table: string; rows: string; bytes: string }>(
      `SELECT c.relname AS table, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
       FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1) ORDER BY c.relname`,
      [BIG_TABLES],
    );
    return rows.map((r) => ({ table: r.table, rows: Number(r.rows), mib: Number(r.bytes) / 1024 ** 2 }));
  });
}

export async function runReadSide(argv: readonly string[]): Promise<number> {
  let options: ReadOptions;
  try {
    options = parseReadOptions(argv, process.env);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${READ_USAGE}`);
    return 2;
  }
  const { plan } = options;
  const startedAt = new Date();
  const name = `ark_bench_read_${plan.events}`;
  const url = new URL(options.serverUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const environment = await describeEnvironment(startedAt, options.serverUrl, ['read', ...argv]);
  let broker: BrokerProcess | undefined;
  try {
    let seed: SeedReport | undefined;
    let rebuild: { line: string; seconds: number } | undefined;
    if (!options.reuse) {
      await withClient(options.serverUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.query(`CREATE DATABASE ${name}`);
      });
      progress(`created ${name}; capturing query templates through the broker`);
      broker = await BrokerProcess.start(databaseUrl);
      const templates = await captureTemplates(broker.url, databaseUrl, plan.tenantId);
      await broker.stop();
      broker = undefined;
      progress(
        `templates: ${templates.ok.rows.length} events (ok query), ${templates.error.rows.length} (failed query); seeding ${plan.events.toLocaleString('en')} events over ${plan.sessions.toLocaleString('en')} sessions`,
      );
      seed = await seedEvents(databaseUrl, templates, plan, progress);
      progress(`seeded ${seed.events.toLocaleString('en')} events in ${seed.seconds.toFixed(0)} s; ark-broker projections rebuild`);
      const started = performance.now();
      const line = (await runCli(['projections', 'rebuild'], databaseUrl)).trim();
      rebuild = { line, seconds: (performance.now() - started) / 1000 };
      progress(line);
      await withClient(databaseUrl, (client) => client.query('VACUUM ANALYZE'));
    }
    const bigSessionIds = Array.from({ length: plan.bigSessions }, (_, i) => `seed-big-${String(i).padStart(4, '0')}`);
    broker = await BrokerProcess.start(databaseUrl);
    const results: CaseResult[] = [];
    let plans = '';
    for (const c of readCases(plan.tenantId, bigSessionIds, plan)) {
      if (c.paths.length === 0) continue;
      const { latency, bytes } = await measure(broker.url, c.paths, options.requests);
      const explained = await explain(databaseUrl, plan.tenantId, c);
      plans += `## ${c.name}\n\n${explained.plans}`;
      results.push({ name: c.name, latency, bytes, statements: explained.statements, seqScans: explained.seqScans });
      progress(
        `${c.name}: p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms, ${bytes} bytes${explained.seqScans.length ? `, SEQ SCAN on ${explained.seqScans.join(', ')}` : ''}`,
      );
    }
    await broker.stop();
    broker = undefined;
    const sizes = await tableSizes(databaseUrl);
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    await mkdir(`${BENCH_DIR}results`, { recursive: true });
    const plansFile = `results/read-side-${plan.events}-${stamp}-explain.txt`;
    await writeFile(`${BENCH_DIR}${plansFile}`, plans);
    const section = renderSection({ environment, plan, seed, rebuild, results, sizes, plansFile, requests: options.requests });
    await writeSection(section, plan.events);
    console.log(section);
    return results.some((r) => r.seqScans.length > 0) ? 1 : 0;
  } finally {
    await broker?.stop();
    if (!options.keep) await withClient(options.serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined);
  }
}

interface SectionInput {
  environment: Awaited<ReturnType<typeof describeEnvironment>>;
  plan: SeedPlan;
  seed: SeedReport | undefined;
  rebuild: { line: string; seconds: number } | undefined;
  results: CaseResult[];
  sizes: { table: string; rows: number; mib: number }[];
  plansFile: string;
  requests: number;
}

const fmt = (n: number) => n.toLocaleString('en', { maximumFractionDigits: 1 });

function renderSection(s: SectionInput): string {
  const lines = [
    `### ${fmt(s.plan.events)} events`,
    '',
    `- Date: ${s.environment.date}; commit ${s.environment.commit}; load average at start ${s.environment.loadAverage.map((l) => l.toFixed(2)).join(' / ')}`,
    `- Command: \`npm run bench -- read ${s.environment.command.replace(/^.*? read ?/, '')}\``,
    s.seed
      ? `- Seed: ${fmt(s.seed.events)} events, ${fmt(s.seed.sessions)} sessions (${s.plan.bigSessions} of ~${fmt(s.plan.bigSessionEvents)} events), ${fmt(s.seed.queries)} queries (${s.seed.templateEvents.ok} events per completed query, ${s.seed.templateEvents.error} per failed one; 6 % failed, 2 % of sessions end in a running query), ${s.plan.users} users, 30 days; COPY in ${fmt(s.seed.seconds)} s`
      : '- Seed: reused database',
    s.rebuild ? `- Rebuild (\`ark-broker projections rebuild\`, the CLI's own figure): ${s.rebuild.line}` : '- Rebuild: not run (reused database)',
    `- Tables: ${s.sizes.map((t) => `${t.table} ${fmt(t.rows)} rows / ${fmt(t.mib)} MiB`).join('; ')}`,
    `- Method: ${s.requests} sequential requests per case after 20 warm-up ones, from the harness on the same machine (fetch, keep-alive); the broker with default settings. Plans: \`bench/${s.plansFile}\` (EXPLAIN (ANALYZE, BUFFERS) of every statement behind each route).`,
    '',
    '| case | p50 ms | p99 ms | max ms | response bytes | statements | seq scans on big tables |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...s.results.map(
      (r) =>
        `| ${r.name} | ${r.latency.p50.toFixed(1)} | ${r.latency.p99.toFixed(1)} | ${r.latency.max.toFixed(1)} | ${fmt(r.bytes)} | ${r.statements} | ${r.seqScans.join(', ') || 'none'} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

/** Replaces this scale's part of the read-side section of RESULTS.md (creating it), leaving the rest. */
async function writeSection(section: string, events: number): Promise<void> {
  const file = `${BENCH_DIR}RESULTS.md`;
  const current = await readFile(file, 'utf8').catch(() => '');
  const begin = current.indexOf(READ_SIDE_BEGIN);
  const end = current.indexOf(READ_SIDE_END);
  const header = `## Read side\n\n_Written by \`npm run bench -- read\` (bench/read-side.ts), one part per seeded size; kept when the rest of this file is rewritten._\n\n`;
  const parts = new Map<number, string>();
  if (begin !== -1 && end > begin) {
    const body = current.slice(begin + READ_SIDE_BEGIN.length, end);
    for (const part of body.split(/^(?=### )/m).filter((p) => p.startsWith('### '))) {
      const n = Number(/^### ([\d,]+) events/.exec(part)?.[1]?.replace(/,/g, ''));
      if (Number.isFinite(n)) parts.set(n, part.trimEnd() + '\n\n');
    }
  }
  parts.set(events, section.trimEnd() + '\n\n');
  const block = `${READ_SIDE_BEGIN}\n${header}${[...parts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map((p) => p[1])
    .join('')}${READ_SIDE_END}`;
  const next = begin !== -1 && end > begin ? current.slice(0, begin) + block + current.slice(end + READ_SIDE_END.length) : `${current.trimEnd()}\n\n${block}\n`;
  await writeFile(file, next);
}
