import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { context, trace, type Attributes } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { withClient } from './postgres-server.js';

/**
 * Seeds a broker database with an Ark-shaped event log, fast: one query of each kind is sent through
 * a running broker's real ingest routes (OTLP protobuf spans from the SDK's official serializer,
 * operation events, an NDJSON chunk upload, memory messages), its stored rows are read back as
 * templates, and clones of them (every id, name, user, namespace and time replaced) are streamed
 * into `events` with COPY. Read models are not written: build them with `ark-broker projections rebuild`.
 */

export interface SeedPlan {
  /** Events to write (about; whole queries are cloned). */
  events: number;
  sessions: number;
  /** Sessions of `bigSessionEvents` events each (the first sessions seeded: `seed-big-0000`, …). */
  bigSessions: number;
  bigSessionEvents: number;
  tenantId: string;
  users: number;
  /** Days the sessions' activity is spread over, ending now. */
  days: number;
}

export const DEFAULT_SEED_PLAN: SeedPlan = {
  events: 10_000_000,
  sessions: 100_000,
  bigSessions: 5,
  bigSessionEvents: 10_000,
  tenantId: 'default',
  users: 1_000,
  days: 30,
};

export interface SeedReport {
  events: number;
  sessions: number;
  queries: number;
  /** Events per template query, by kind. */
  templateEvents: Record<QueryKind, number>;
  seconds: number;
  bigSessionIds: string[];
}

type QueryKind = 'ok' | 'error';

/** Where the clones' values go in a template: distinctive strings the broker stores verbatim. */
const TOKENS = {
  session: 'seedtmplsession',
  queryId: 'seedtmplqueryuid',
  queryName: 'seedtmplqueryname',
  agent: 'seedtmplagent',
  namespace: 'seedtmplns',
  user: 'seedtmpluser',
  conversation: 'seedtmplconversation',
} as const;
/** Trace and span ids of the template (hex, as stored); clones get ids derived from their number. */
const TRACE_PREFIX = '5eed5eed5eed5eed5eed5eed';
const SPAN_PREFIX = '5eed5eed5eed';

const AGENTS = ['weather-agent', 'researcher', 'reviewer', 'support-agent', 'planner', 'coder', 'summariser', 'translator', 'analyst', 'scheduler'];
const QUERY_NAMES = ['weather', 'research-report', 'code-review', 'support-ticket', 'travel-plan', 'summary', 'translation', 'forecast'];
/** Namespaces by weight: a few busy teams and a long tail. */
const NAMESPACES = ['default', 'default', 'default', 'team-a', 'team-a', 'team-b', 'team-c', 'ml-platform', 'finance', 'research', 'ops', 'sandbox'];

/** The `events` columns the clones supply, in COPY order. */
const COLUMNS = [
  'tenant_id',
  'session_id',
  'sequence',
  'time',
  'recorded_at',
  'expires_at',
  'type',
  'query_id',
  'query_name',
  'namespace',
  'user_id',
  'trace_id',
  'span_id',
  'parent_span_id',
  'source',
  'dedupe_key',
  'data',
] as const;

/** A template row: its time offset and its other columns as COPY text split around the tokens. */
interface TemplateRow {
  offsetMs: number;
  parts: string[];
  slots: Slot[];
  hasDedupeKey: boolean;
}
type Slot = keyof typeof TOKENS | 'trace' | `span:${string}`;

interface Template {
  rows: TemplateRow[];
  durationMs: number;
}

// --- capturing the templates through the broker ------------------------------------------------------

function tokenIdGenerator() {
  let span = 0;
  return {
    generateTraceId: () => `${TRACE_PREFIX}${'0'.repeat(8)}`,
    generateSpanId: () => `${SPAN_PREFIX}${(span++).toString(16).padStart(4, '0')}`,
  };
}

/** The spans Ark's controller makes for one query: query → agent → (llm, tool) × 2 → llm. */
function querySpans(kind: QueryKind, base: number): Uint8Array {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    idGenerator: tokenIdGenerator(),
    resource: resourceFromAttributes({ 'service.name': 'ark-controller', 'service.version': '0.1.0', 'k8s.namespace.name': TOKENS.namespace }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('ark/controller', '0.1.0');
  const common: Attributes = {
    'ark.session.id': TOKENS.session,
    'query.uid': TOKENS.queryId,
    'query.name': TOKENS.queryName,
    'query.namespace': TOKENS.namespace,
    'user.id': TOKENS.user,
  };
  const query = tracer.startSpan(`query.${TOKENS.queryName}`, {
    startTime: base,
    attributes: { ...common, 'input.value': 'What should I know about the weather in Paris this week?', 'query.target': TOKENS.agent },
  });
  const agent = tracer.startSpan(
    `agent.${TOKENS.namespace}/${TOKENS.agent}`,
    { startTime: base + 5, attributes: { ...common, 'agent.name': TOKENS.agent } },
    trace.setSpan(context.active(), query),
  );
  const inAgent = trace.setSpan(context.active(), agent);
  let t = base + 10;
  for (let round = 0; round < 3; round++) {
    const llm = tracer.startSpan(
      'llm.gpt-4o',
      {
        startTime: t,
        attributes: {
          ...common,
          'llm.model.name': 'gpt-4o',
          'gen_ai.request.model': 'gpt-4o',
          'gen_ai.usage.input_tokens': 420 + 60 * round,
          'gen_ai.usage.output_tokens': 80 + 10 * round,
        },
      },
      inAgent,
    );
    llm.end(t + 900);
    t += 910;
    if (round === 2) break;
    const failed = kind === 'error' && round === 1;
    const tool = tracer.startSpan(
      round === 0 ? 'tool.get-weather' : 'tool.web-search',
      {
        startTime: t,
        attributes: {
          ...common,
          'tool.name': round === 0 ? 'get-weather' : 'web-search',
          'tool.type': 'mcp',
          'tool.id': `call-${round}`,
          'mcp.session.id': `mcp-${TOKENS.session}`,
          'tool.input': JSON.stringify({ city: 'Paris', days: 7 }),
          'tool.output': failed ? '' : 'sunny, 21°C, light wind',
        },
      },
      inAgent,
    );
    if (failed) tool.setStatus({ code: 2, message: 'upstream timeout' });
    tool.end(t + 250);
    t += 260;
  }
  agent.end(t);
  query.setAttribute('output.value', kind === 'error' ? '' : 'Paris will be sunny most of the week, around 21°C.');
  if (kind === 'error') query.setStatus({ code: 2, message: 'tool web-search failed' });
  query.end(t + 5);
  const body = ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans());
  if (!body) throw new Error('ProtobufTraceSerializer produced nothing');
  return body;
}

/** What the Ark controller posts to `/events` for one query (upstream's operation-event bodies). */
function operationEvents(kind: QueryKind, base: number): unknown[] {
  const at = (ms: number) => new Date(base + ms).toISOString();
  const data = (extra: Record<string, unknown>) => ({
    queryId: TOKENS.queryId,
    queryName: TOKENS.queryName,
    queryNamespace: TOKENS.namespace,
    sessionId: TOKENS.session,
    userId: TOKENS.user,
    ...extra,
  });
  const op = (reason: string, ms: number, extra: Record<string, unknown> = {}) => ({
    timestamp: at(ms),
    eventType: reason.endsWith('Error') ? 'Warning' : 'Normal',
    reason,
    message: `${reason} ${TOKENS.queryName}`,
    data: data(extra),
  });
  return [
    op('QueryExecutionStart', 0, { targetType: 'agent', agent: TOKENS.agent }),
    op('AgentExecutionStart', 5, { agent: TOKENS.agent }),
    op('LLMCallStart', 10, { agent: TOKENS.agent, model: 'gpt-4o' }),
    op('LLMCallComplete', 910, { agent: TOKENS.agent, model: 'gpt-4o' }),
    op('ToolCallStart', 920, { toolName: 'get-weather', toolId: 'call-0', toolType: 'mcp', parameters: { city: 'Paris', days: 7 } }),
    op('ToolCallComplete', 1170, { toolName: 'get-weather', toolId: 'call-0', result: 'sunny, 21°C, light wind', durationMs: '250' }),
    op('ToolCallStart', 2090, { toolName: 'web-search', toolId: 'call-1', toolType: 'mcp', parameters: { q: 'Paris weather week' } }),
    kind === 'error'
      ? op('ToolCallError', 2340, { toolName: 'web-search', toolId: 'call-1', error: 'upstream timeout' })
      : op('ToolCallComplete', 2340, { toolName: 'web-search', toolId: 'call-1', result: '7-day forecast: sunny', durationMs: '250' }),
    op('AgentExecutionComplete', 3260, { agent: TOKENS.agent }),
    op('QueryExecutionComplete', 3265, kind === 'error' ? { error: 'tool web-search failed' } : {}),
  ];
}

/** The executor's chunk upload (OpenAI chat.completion.chunk lines with Ark metadata, as the fixtures). */
function chunkLines(): string {
  const words =
    'Paris will be sunny most of the week , with highs around 21 ° C and a light wind from the west . Expect a few clouds on Thursday afternoon .'.split(' ');
  const line = (delta: Record<string, unknown>, finish: string | null) =>
    JSON.stringify({
      id: `chatcmpl-${TOKENS.queryId}`,
      object: 'chat.completion.chunk',
      created: 1767225600,
      model: 'gpt-4o',
      choices: [{ index: 0, delta, finish_reason: finish }],
      ark: { query: TOKENS.queryId, session: TOKENS.session, target: `agent/${TOKENS.agent}`, agent: TOKENS.agent, model: 'gpt-4o' },
    });
  return [...words.map((w, i) => line({ content: i === 0 ? w : ` ${w}` }, null)), line({}, 'stop')].map((l) => `${l}\n`).join('');
}

async function post(url: string, body: string | Uint8Array, contentType: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  if (!res.ok) throw new Error(`seed template: POST ${url} answered ${res.status} ${await res.text()}`);
}

/** Sends one query of this kind through the broker's ingest routes, in the order Ark sends them. */
async function sendTemplateQuery(brokerUrl: string, kind: QueryKind, base: number): Promise<void> {
  const ops = operationEvents(kind, base);
  for (const body of ops.slice(0, 3)) await post(`${brokerUrl}/events`, JSON.stringify(body), 'application/json');
  await post(`${brokerUrl}/stream/${TOKENS.queryId}`, chunkLines(), 'application/x-ndjson');
  await post(`${brokerUrl}/stream/${TOKENS.queryId}/complete`, '', 'application/json');
  for (const body of ops.slice(3)) await post(`${brokerUrl}/events`, JSON.stringify(body), 'application/json');
  await post(`${brokerUrl}/v1/traces`, querySpans(kind, base), 'application/x-protobuf');
  await post(
    `${brokerUrl}/messages`,
    JSON.stringify({
      conversation_id: TOKENS.conversation,
      query_id: TOKENS.queryName,
      messages: [
        { role: 'user', content: 'What is the weather like in Paris this week?' },
        { role: 'assistant', content: 'Mostly sunny, around 21°C.' },
      ],
    }),
    'application/json',
  );
}

/** COPY text format of one value. */
function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

const TOKEN_PATTERN = new RegExp(
  [...Object.values(TOKENS).sort((a, b) => b.length - a.length), `${TRACE_PREFIX}[0-9a-f]{8}`, `${SPAN_PREFIX}[0-9a-f]{4}`].join('|'),
  'g',
);
const SLOT_OF_TOKEN = new Map<string, Slot>(Object.entries(TOKENS).map(([slot, token]) => [token, slot as Slot]));

function slotOf(token: string): Slot {
  if (token.startsWith(TRACE_PREFIX)) return 'trace';
  if (token.startsWith(SPAN_PREFIX)) return `span:${token.slice(SPAN_PREFIX.length)}`;
  return SLOT_OF_TOKEN.get(token)!;
}

/** Reads the stored template rows back (sequence order) and splits them around their tokens. */
async function readTemplate(client: pg.Client, tenantId: string, sessionId: string): Promise<Template> {
  const { rows } = await client.query<Record<string, string | null> & { time: Date }>(
    `SELECT time, type, query_id, query_name, namespace, user_id, trace_id, span_id, parent_span_id, source, dedupe_key, data::text AS data
     FROM events WHERE tenant_id = $1 AND session_id = $2 ORDER BY sequence`,
    [tenantId, sessionId],
  );
  if (rows.length === 0) throw new Error(`seed template: no events stored for ${sessionId}`);
  const t0 = Math.min(...rows.map((r) => r.time.getTime()));
  const template = rows.map((r): TemplateRow => {
    const text = COLUMNS.slice(6)
      .map((c) => copyText(r[c] as string | null))
      .join('\t');
    const parts: string[] = [];
    const slots: Slot[] = [];
    let last = 0;
    for (const m of text.matchAll(TOKEN_PATTERN)) {
      parts.push(text.slice(last, m.index));
      slots.push(slotOf(m[0]));
      last = m.index + m[0].length;
    }
    parts.push(text.slice(last));
    return { offsetMs: r.time.getTime() - t0, parts, slots, hasDedupeKey: r.dedupe_key !== null };
  });
  return { rows: template, durationMs: Math.max(...template.map((r) => r.offsetMs)) };
}

/**
 * Captures one template per query kind through the broker at `brokerUrl` (whose database is
 * `databaseUrl`), then removes their events (and the read-model rows they made are rebuilt later).
 */
export async function captureTemplates(brokerUrl: string, databaseUrl: string, tenantId: string): Promise<Record<QueryKind, Template>> {
  const templates = {} as Record<QueryKind, Template>;
  for (const kind of ['ok', 'error'] as const) {
    // Chunks and messages are stamped with the append time, so the template's own times are "now".
    await sendTemplateQuery(brokerUrl, kind, Date.now() - 4_000);
    templates[kind] = await withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ session_id: string }>('SELECT DISTINCT session_id FROM events');
      if (rows.length !== 1 || rows[0]!.session_id !== TOKENS.session)
        throw new Error(`seed template: events went to ${rows.map((r) => r.session_id).join(', ')}`);
      const found = await readTemplate(client, tenantId, TOKENS.session);
      await client.query('TRUNCATE events, event_streams');
      return found;
    });
  }
  return templates;
}

// --- cloning -------------------------------------------------------------------------------------------

/** Deterministic pseudo-random numbers (mulberry32), so a seed run is reproducible. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface CloneValues {
  session: string;
  queryId: string;
  queryName: string;
  agent: string;
  namespace: string;
  user: string;
  conversation: string;
  trace: string;
  /** Span ids are `<query number in hex, 12 digits><template span suffix>`. */
  spanPrefix: string;
}

function cloneRow(row: TemplateRow, v: CloneValues, dedupeSuffix: string): string {
  let out = row.parts[0]!;
  for (let i = 0; i < row.slots.length; i++) {
    const slot = row.slots[i]!;
    const value = slot === 'trace' ? v.trace : slot.startsWith('span:') ? v.spanPrefix + slot.slice(5) : v[slot as keyof typeof TOKENS];
    out += value + row.parts[i + 1]!;
  }
  if (!row.hasDedupeKey) return out;
  // The dedupe key is the 10th of the 11 templated columns; operation-event keys hash the body, so a
  // session's second clone of a template would collide without a suffix.
  const cols = out.split('\t');
  cols[9] += dedupeSuffix;
  return cols.join('\t');
}

/**
 * Writes the plan's events with COPY (one transaction per `rowsPerTransaction` rows, so the log has
 * many transaction ids like a real one), plus their `event_streams` rows. Secondary indexes of
 * `events` are dropped first and rebuilt after, which is several times faster than maintaining them.
 */
export async function seedEvents(
  databaseUrl: string,
  templates: Record<QueryKind, Template>,
  plan: SeedPlan,
  log: (line: string) => void = () => undefined,
): Promise<SeedReport> {
  const started = performance.now();
  const next = random(42);
  const perQuery = (templates.ok.rows.length + templates.error.rows.length) / 2;
  const smallSessions = plan.sessions - plan.bigSessions;
  const smallEvents = Math.max(0, plan.events - plan.bigSessions * plan.bigSessionEvents);
  const queriesPerSmallSession = Math.max(1, smallEvents / Math.max(1, smallSessions) / perQuery);
  const end = Date.now() - 60_000;
  const spanMs = plan.days * 86_400_000;
  const bigSessionIds = Array.from({ length: plan.bigSessions }, (_, i) => `seed-big-${String(i).padStart(4, '0')}`);

  let events = 0;
  let queries = 0;
  const heads: string[] = [];
  function* sessionLines(): Generator<string> {
    for (let s = 0; s < plan.sessions; s++) {
      const big = s < plan.bigSessions;
      const session = big ? bigSessionIds[s]! : `seed-${String(s).padStart(6, '0')}`;
      const user = `user-${String(Math.floor(next() * plan.users)).padStart(4, '0')}`;
      const namespace = NAMESPACES[Math.floor(next() * NAMESPACES.length)]!;
      const n = big ? Math.ceil(plan.bigSessionEvents / perQuery) : Math.max(1, Math.round(queriesPerSmallSession * (0.5 + next())));
      // Sessions start spread over the window; queries follow each other a few minutes apart.
      let at = end - spanMs + ((s + next()) / plan.sessions) * spanMs * 0.98;
      let sequence = 0;
      let text = '';
      for (let q = 0; q < n; q++) {
        const running = q === n - 1 && next() < 0.02; // a query still in progress: only its first events
        const kind: QueryKind = next() < 0.06 ? 'error' : 'ok';
        const template = templates[kind];
        const rows = running ? template.rows.slice(0, Math.ceil(template.rows.length * 0.4)) : template.rows;
        const number = queries++;
        const v: CloneValues = {
          session,
          queryId: `q-${number.toString(36).padStart(7, '0')}`,
          queryName: `${QUERY_NAMES[Math.floor(next() * QUERY_NAMES.length)]}-${q}`,
          agent: AGENTS[Math.floor(next() * AGENTS.length)]!,
          namespace,
          user,
          conversation: `conv-${session}`,
          trace: number.toString(16).padStart(32, '0'),
          spanPrefix: number.toString(16).padStart(12, '0'),
        };
        const suffix = `#${q}`;
        for (const row of rows) {
          sequence++;
          const time = new Date(at + row.offsetMs).toISOString();
          // Seeded rows never expire: the read side is measured on the whole log.
          text += `${plan.tenantId}\t${session}\t${sequence}\t${time}\t${time}\tinfinity\t${cloneRow(row, v, suffix)}\n`;
        }
        at += template.durationMs + 30_000 + next() * 300_000;
      }
      events += sequence;
      heads.push(`${plan.tenantId}\t${session}\t${sequence}\n`);
      yield text;
    }
  }

  await withClient(databaseUrl, async (client) => {
    const { rows: indexes } = await client.query<{ name: string; definition: string }>(
      `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
       WHERE t.relname = 'events' AND t.relnamespace = current_schema()::regnamespace AND NOT x.indisprimary`,
    );
    for (const index of indexes) await client.query(`DROP INDEX ${index.name}`);
    const lines = sessionLines();
    let lastLog = performance.now();
    for (let done = false; !done;) {
      // One COPY (its own transaction) per ~500,000 rows.
      const batch = function* (): Generator<string> {
        let rows = 0;
        while (rows < 500_000) {
          const item = lines.next();
          if (item.done) {
            done = true;
            return;
          }
          rows += item.value.split('\n').length - 1;
          yield item.value;
        }
      };
      await pipeline(Readable.from(batch()), client.query(copyFrom(`COPY events (${COLUMNS.join(', ')}) FROM STDIN`)));
      if (performance.now() - lastLog > 10_000 || done) {
        lastLog = performance.now();
        log(
          `seeded ${events.toLocaleString('en')} events (${heads.length.toLocaleString('en')} sessions) in ${Math.round((performance.now() - started) / 1000)} s`,
        );
      }
    }
    await pipeline(Readable.from(heads), client.query(copyFrom('COPY event_streams (tenant_id, session_id, last_sequence) FROM STDIN')));
    log(`rebuilding ${indexes.length} indexes of events`);
    for (const index of indexes) await client.query(index.definition);
    await client.query('ANALYZE events');
    await client.query('ANALYZE event_streams');
  });
  return {
    events,
    sessions: plan.sessions,
    queries,
    templateEvents: { ok: templates.ok.rows.length, error: templates.error.rows.length },
    seconds: (performance.now() - started) / 1000,
    bigSessionIds,
  };
}
