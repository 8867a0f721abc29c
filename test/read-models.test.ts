import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { queryPhase } from '#ark/projections';
import { runCli } from './support/cli.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

// ---------------------------------------------------------------------------------------------------
// Builders: OTLP/JSON spans, Ark operation events, producer events.

const T0 = Date.UTC(2026, 4, 1, 9, 0, 0);
const nanos = (ms: number) => `${BigInt(T0 + ms) * 1_000_000n}`;
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');

interface SpanSpec {
  trace: number;
  span: number;
  parent?: number;
  name: string;
  start: number;
  end?: number;
  error?: string;
  attributes?: Record<string, string | number>;
}

function otlpSpan(s: SpanSpec) {
  return {
    traceId: hex(s.trace, 32),
    spanId: hex(s.span, 16),
    ...(s.parent === undefined ? {} : { parentSpanId: hex(s.parent, 16) }),
    name: s.name,
    kind: 1,
    startTimeUnixNano: nanos(s.start),
    ...(s.end === undefined ? {} : { endTimeUnixNano: nanos(s.end) }),
    attributes: Object.entries(s.attributes ?? {}).map(([key, v]) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } })),
    status: s.error ? { code: 2, message: s.error } : { code: 0 },
  };
}

const otlpBody = (spans: SpanSpec[]) => ({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'ark-controller' } }] },
      scopeSpans: [{ scope: { name: 'ark' }, spans: spans.map(otlpSpan) }],
    },
  ],
});

/** AGGREGATE_LIMITS.detailedQueries of the broker. */
const AGGREGATE_DETAILED = 20;

const opEvent = (reason: string, at: number, data: Record<string, unknown>) => ({ timestamp: iso(at), eventType: 'Normal', reason, message: reason, data });

type Send = { path: '/v1/traces'; body: unknown } | { path: '/events'; body: unknown } | { path: '/v2/events'; body: unknown };
const traces = (...spans: SpanSpec[]): Send => ({ path: '/v1/traces', body: otlpBody(spans) });
const events = (body: unknown): Send => ({ path: '/events', body });

async function send(broker: TestBroker, item: Send): Promise<void> {
  const res = await postJson(`${broker.url}${item.path}`, item.body);
  assert.ok(res.status === 200 || res.status === 201, `${item.path} → ${res.status} ${JSON.stringify(res.body)}`);
}

/** One Ark query seen through spans and operation events at once (same query UID and tool ids). */
function weatherQuery(n: number, session: string) {
  const uid = `uid-${n}`;
  const common = { 'ark.session.id': session, 'query.uid': uid, 'query.name': `weather-${n}`, 'query.namespace': 'default' };
  const trace = 1000 + n;
  const query: SpanSpec = {
    trace,
    span: 1,
    name: `query.weather-${n}`,
    start: 0,
    end: 5_000,
    attributes: {
      ...common,
      'input.value': 'weather in Paris?',
      'output.value': 'It is sunny.',
      'gen_ai.usage.input_tokens': 40,
      'gen_ai.usage.output_tokens': 12,
    },
  };
  const agent: SpanSpec = { trace, span: 2, parent: 1, name: 'agent.default/weather-agent', start: 100, end: 4_900, attributes: common };
  const llm: SpanSpec = {
    trace,
    span: 3,
    parent: 2,
    name: 'llm.gpt-4o',
    start: 200,
    end: 1_200,
    attributes: { ...common, 'llm.model.name': 'gpt-4o', 'gen_ai.usage.input_tokens': 30, 'gen_ai.usage.output_tokens': 8 },
  };
  const tool: SpanSpec = {
    trace,
    span: 4,
    parent: 2,
    name: 'tool.get-weather',
    start: 1_300,
    end: 1_800,
    attributes: {
      ...common,
      'tool.name': 'get-weather',
      'tool.type': 'mcp',
      'tool.id': `call-${n}`,
      'tool.input': '{"city":"Paris"}',
      'tool.output': 'sunny',
      'mcp.session.id': `mcp-${n}`,
    },
  };
  const start = (s: SpanSpec): SpanSpec => ({ ...s, end: undefined });
  const d = { queryId: uid, queryName: `weather-${n}`, queryNamespace: 'default', sessionId: session };
  return {
    uid,
    spanStarts: [start(query), start(agent), start(llm), start(tool)],
    spanEnds: { query, agent, llm, tool },
    ops: {
      queryStart: opEvent('QueryExecutionStart', 0, { ...d, agent: 'weather-agent', targetType: 'agent', input: 'weather in Paris?' }),
      toolStart: opEvent('ToolCallStart', 1_300, { ...d, toolName: 'get-weather', toolType: 'mcp', toolId: `call-${n}`, parameters: { city: 'Paris' } }),
      toolComplete: opEvent('ToolCallComplete', 1_800, {
        ...d,
        toolName: 'get-weather',
        toolType: 'mcp',
        toolId: `call-${n}`,
        result: 'sunny',
        durationMs: 498,
      }),
      queryComplete: opEvent('QueryExecutionComplete', 5_000, { ...d, response: 'It is sunny.' }),
    },
  };
}

const READ_MODEL_SQL = {
  // first_position is where a row's first event landed in the log: it depends on arrival order by nature.
  queries: `SELECT tenant_id, query_key, query_id, query_name, session_id, session_rank, namespace, user_id, target_type, target_name, agent,
                   input, response, phase, error, error_at, done_at, canceled_at, started_at, completed_at, last_event_at, duration_ms,
                   tokens_input, tokens_output, tokens_total, event_count FROM queries ORDER BY tenant_id, query_key`,
  tool_calls: `SELECT tenant_id, call_key, query_key, query_id, trace_id, span_id, parent_span_id, tool_name, tool_type, tool_id, parameters,
                      result, error, status, mcp_session_id, started_at, ended_at, duration_ms, event_count FROM tool_calls ORDER BY tenant_id, call_key`,
  llm_calls: `SELECT tenant_id, call_key, query_key, query_id, query_name, trace_id, span_id, parent_span_id, model, model_type, status, error,
                     tokens_input, tokens_output, tokens_total, started_at, ended_at, duration_ms, first_chunk_at, event_count
              FROM llm_calls ORDER BY tenant_id, call_key`,
};
const FULL_SQL = {
  queries: 'SELECT * FROM queries ORDER BY tenant_id, query_key',
  tool_calls: 'SELECT * FROM tool_calls ORDER BY tenant_id, call_key',
  llm_calls: 'SELECT * FROM llm_calls ORDER BY tenant_id, call_key',
  traces: 'SELECT * FROM traces ORDER BY tenant_id, trace_id',
};

async function readModels(broker: TestBroker, queries: Record<string, string> = READ_MODEL_SQL) {
  const out: Record<string, unknown[]> = {};
  for (const [name, text] of Object.entries(queries)) out[name] = (await broker.sql.query(text)).rows;
  return out;
}

// ---------------------------------------------------------------------------------------------------

describe('query phase from signals (upstream rules, time order)', () => {
  const at = (s: number) => new Date(T0 + s * 1000);
  const base = { queued: false, started_at: at(0), error: null, error_at: null, done_at: [] as Date[], canceled_at: null };
  it('follows applyQuerySignal in producer-time order', () => {
    assert.equal(queryPhase(base).phase, 'running');
    assert.equal(queryPhase({ ...base, done_at: [at(5)] }).phase, 'done');
    assert.equal(queryPhase({ ...base, error: 'x', error_at: at(3), done_at: [at(5)] }).phase, 'done', 'a later done clears an error');
    assert.equal(queryPhase({ ...base, error: 'x', error_at: at(6), done_at: [at(5)] }).phase, 'error', 'an error after done wins');
    assert.equal(queryPhase({ ...base, error: 'x', error_at: at(3), canceled_at: at(4) }).phase, 'error', 'canceled never overrides error');
    assert.equal(queryPhase({ ...base, canceled_at: at(4), done_at: [at(5)] }).phase, 'canceled', 'done does not undo canceled');
    assert.equal(queryPhase({ ...base, error: 'x', error_at: at(3), done_at: [at(4), at(6)], canceled_at: at(5) }).phase, 'canceled');
    assert.equal(queryPhase({ ...base, done_at: [at(5)] }).completedAt?.getTime(), at(5).getTime());
    assert.equal(queryPhase({ ...base, queued: true }).phase, 'pending', 'only its submission: waiting for an executor');
    assert.equal(queryPhase({ ...base, queued: true, canceled_at: at(4) }).phase, 'canceled', 'canceled while pending');
    assert.equal(queryPhase({ ...base, queued: true, error: 'lost', error_at: at(4) }).phase, 'error');
  });
});

describe('read models: queries, tool calls, LLM calls', () => {
  let a: TestBroker;
  let b: TestBroker;
  before(async () => {
    [a, b] = await Promise.all([startTestBroker(), startTestBroker()]);
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('converges to the same rows whatever order the events arrive in (and with duplicates)', async () => {
    const q = weatherQuery(1, 'sess-1');
    const e = q.spanEnds;
    // A query whose tool failed before it completed, and one that failed after it completed.
    const d2 = { queryId: 'uid-2', queryName: 'q2', sessionId: 'sess-2', queryNamespace: 'ops' };
    const q2 = [
      opEvent('QueryExecutionStart', 0, { ...d2, targetType: 'team', team: 'crew' }),
      opEvent('ToolCallError', 1_000, { ...d2, toolName: 'search', toolId: 't1', error: 'timeout' }),
      opEvent('QueryExecutionComplete', 2_000, d2),
    ];
    const d3 = { queryId: 'uid-3', queryName: 'q3', sessionId: 'sess-2' };
    const q3 = [opEvent('QueryExecutionStart', 0, d3), opEvent('QueryExecutionComplete', 2_000, d3), opEvent('LLMCallError', 3_000, { ...d3, error: 'quota' })];
    // A child span with no session attribute, its parent names the session (child first: placeholder session).
    const orphanChild: SpanSpec = { trace: 77, span: 2, parent: 1, name: 'tool.lookup', start: 10, end: 20, attributes: { 'tool.name': 'lookup' } };
    const orphanParent: SpanSpec = { trace: 77, span: 1, name: 'query.orphan', start: 0, end: 30, attributes: { 'ark.session.id': 'sess-3' } };

    const natural: Send[] = [
      traces(...q.spanStarts.slice(0, 2)),
      events(q.ops.queryStart),
      traces(q.spanStarts[2]!, e.llm),
      traces(q.spanStarts[3]!),
      events(q.ops.toolStart),
      events(q.ops.toolComplete),
      traces(e.tool, e.agent),
      traces(e.query),
      events(q.ops.queryComplete),
      ...q2.map(events),
      ...q3.map(events),
      traces(orphanParent),
      traces(orphanChild),
    ];
    const scrambled: Send[] = [
      events(q.ops.queryComplete), // an operation event before any span
      traces(orphanChild), // a child before its parent (lands in trace-… for now)
      traces(e.tool), // a span's end before its start, a child before its parent
      events(q.ops.toolComplete),
      traces(e.query, e.llm),
      ...[...q3].reverse().map(events),
      traces(orphanParent),
      traces(...q.spanStarts), // starts after their ends
      events(q.ops.toolStart),
      traces(e.agent),
      events(q2[2]),
      events(q2[1]),
      events(q.ops.queryStart),
      events(q2[0]),
      // duplicates: a retried OTLP batch and a resent operation event change nothing
      traces(e.tool),
      events(q.ops.toolComplete),
      traces(...q.spanStarts),
    ];
    for (const item of natural) await send(a, item);
    for (const item of scrambled) await send(b, item);

    const [ra, rb] = [await readModels(a), await readModels(b)];
    assert.deepEqual(rb, ra);

    const queries = ra.queries as any[];
    const one = queries.find((r) => r.query_key === 'uid-1');
    assert.equal(one.phase, 'done');
    assert.equal(one.session_id, 'sess-1');
    assert.equal(one.query_name, 'weather-1');
    assert.equal(one.namespace, 'default');
    assert.equal(one.target_type, 'agent');
    assert.equal(one.target_name, 'weather-agent');
    assert.equal(one.agent, 'weather-agent');
    assert.equal(one.response, 'It is sunny.');
    assert.equal(Number(one.tokens_input), 40);
    assert.equal(one.started_at.toISOString(), iso(0));
    assert.equal(one.completed_at.toISOString(), iso(5_000));
    assert.equal(queries.find((r) => r.query_key === 'uid-2').phase, 'done', 'a done after the tool error clears it');
    assert.equal(queries.find((r) => r.query_key === 'uid-2').target_type, 'team');
    assert.equal(queries.find((r) => r.query_key === 'uid-3').phase, 'error', 'an error after done wins');
    assert.deepEqual(queries.find((r) => r.query_key === 'uid-3').error, 'quota');
    const orphan = queries.find((r) => r.query_key === `trace:${hex(77, 32)}`);
    assert.equal(orphan.session_id, 'sess-3', 'the child attaches to the session its parent names');

    const tools = ra.tool_calls as any[];
    const weather = tools.filter((r) => r.query_key === 'uid-1');
    assert.equal(weather.length, 1, 'the operation events and the span of one tool call are one row');
    assert.deepEqual(
      { ...weather[0], started_at: weather[0].started_at.toISOString(), ended_at: weather[0].ended_at.toISOString() },
      {
        tenant_id: 'default',
        call_key: 'uid-1|call-1',
        query_key: 'uid-1',
        query_id: 'uid-1',
        trace_id: hex(1001, 32),
        span_id: hex(4, 16),
        parent_span_id: hex(2, 16),
        tool_name: 'get-weather',
        tool_type: 'mcp',
        tool_id: 'call-1',
        parameters: { city: 'Paris' },
        result: 'sunny',
        error: null,
        status: 'completed',
        mcp_session_id: 'mcp-1',
        started_at: iso(1_300),
        ended_at: iso(1_800),
        duration_ms: 500,
        event_count: '4',
      },
    );
    const failed = tools.find((r) => r.call_key === 'uid-2|t1');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error, 'timeout');

    const llm = (ra.llm_calls as any[]).filter((r) => r.query_key === 'uid-1');
    assert.equal(llm.length, 1);
    assert.equal(llm[0].model, 'gpt-4o');
    assert.equal(Number(llm[0].tokens_input), 30);
    assert.equal(Number(llm[0].tokens_output), 8);
    assert.equal(llm[0].status, 'completed');
    assert.equal(llm[0].duration_ms, 1000);
    assert.equal(llm[0].query_key, 'uid-1');
    const opOnly = (ra.llm_calls as any[]).filter((r) => r.query_key === 'uid-3');
    assert.deepEqual(
      opOnly.map((r) => [r.status, r.error, r.span_id]),
      [['failed', 'quota', null]],
      'an LLMCallError with no span is a call of its own',
    );
  });

  it("records time to first token from the query's chunk stream", async () => {
    const now = Date.now();
    const common = { 'ark.session.id': 'sess-ttft', 'query.uid': 'uid-ttft' };
    const llm = (start: number, end: number | undefined): SpanSpec => ({
      trace: 4242,
      span: 9,
      name: 'llm.gpt-4o',
      start: start - T0,
      end: end === undefined ? undefined : end - T0,
      attributes: common,
    });
    // The call starts, then chunks stream, then the call's span ends.
    await send(a, traces(llm(now - 1_000, undefined)));
    const upload = await fetch(`${a.url}/stream/uid-ttft`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body:
        ['a', 'b', 'c'].map((c) => JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: c } }] })).join('\n') +
        '\n',
    });
    assert.equal(upload.status, 200);
    const firstChunk = (await a.sql.query(`SELECT min(time) AS t FROM events WHERE type = 'llm.chunk' AND query_name = 'uid-ttft'`)).rows[0].t as Date;
    let row = (await a.sql.query(`SELECT * FROM llm_calls WHERE query_id = 'uid-ttft'`)).rows[0];
    assert.equal(row.first_chunk_at?.toISOString(), firstChunk.toISOString(), 'chunks after the start set it');
    await send(a, traces(llm(now - 1_000, Date.now() + 1_000)));
    row = (await a.sql.query(`SELECT * FROM llm_calls WHERE query_id = 'uid-ttft'`)).rows[0];
    assert.equal(row.first_chunk_at?.toISOString(), firstChunk.toISOString(), 'the end recomputes it');
    assert.equal(row.status, 'completed');
  });

  it('clears the error a later completion overrides (upstream: a later done clears error), whatever the arrival order; lastError keeps it', async () => {
    for (const [n, reversed] of [
      [1, false],
      [2, true],
    ] as const) {
      const d = { queryId: `uid-clear-${n}`, queryName: `clear-${n}`, sessionId: `sess-clear-${n}` };
      const bodies = [
        opEvent('QueryExecutionStart', 0, d),
        opEvent('QueryExecutionError', 1_000, { ...d, error: 'rate limited' }),
        opEvent('QueryExecutionComplete', 2_000, { ...d, response: 'ok at last' }),
      ];
      for (const body of reversed ? [...bodies].reverse() : bodies) await send(a, events(body));
      const v2 = await getJson(`${a.url}/v2/queries/${d.queryId}`);
      assert.equal(v2.status, 200);
      assert.deepEqual(
        { phase: v2.body.phase, error: v2.body.error, lastError: v2.body.lastError },
        { phase: 'done', error: null, lastError: { error: 'rate limited', at: iso(1_000) } },
        `reversed: ${reversed}`,
      );
      // The upstream shape elects by arrival order (0.1.69): an error that arrives after the done wins there.
      const upstream = await getJson(`${a.url}/sessions/${d.sessionId}`);
      assert.equal(upstream.body.queries[d.queryName].phase, reversed ? 'error' : 'done');
      if (!reversed) assert.equal(upstream.body.queries[d.queryName].error, undefined, 'upstream drops the error once done');
    }
  });

  it('`ark-broker projections rebuild` gives identical tables after a mixed workload', async () => {
    // OTLP, operation events and producer events, concurrently, across sessions.
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const q = weatherQuery(100 + i, `mix-${i % 4}`);
        const items: Send[] = [
          traces(...q.spanStarts),
          events(q.ops.queryStart),
          events(q.ops.toolStart),
          traces(...Object.values(q.spanEnds)),
          events(q.ops.toolComplete),
          events(q.ops.queryComplete),
        ];
        for (const item of i % 2 ? items.reverse() : items) await send(a, item);
        await send(a, {
          path: '/v2/events',
          body: [
            {
              sessionId: `mix-${i % 4}`,
              type: 'tool.call.completed',
              queryId: q.uid,
              time: iso(2_000),
              data: { toolName: 'note', toolId: `api-${i}`, result: { ok: true }, durationMs: 3 },
            },
            { sessionId: `mix-${i % 4}`, type: 'custom.note', queryId: q.uid, data: { i } },
          ],
        });
      }),
    );
    const live = await readModels(a, FULL_SQL);
    assert.ok((live.tool_calls as unknown[]).length >= 24);
    assert.ok((live.traces as unknown[]).length >= 12, 'a trace per query');
    assert.ok(
      (live.queries as { models: string[] }[]).some((q) => q.models.includes('gpt-4o')),
      'call totals on the queries',
    );
    await a.sql.query(`UPDATE queries SET phase = 'unknown'; DELETE FROM tool_calls WHERE tool_name = 'note'; UPDATE llm_calls SET tokens_input = NULL;
                       UPDATE traces SET first_position = 0; UPDATE queries SET models = '{}', llm_tokens_total = 0`);
    const result = await runCli(['projections', 'rebuild'], { DATABASE_URL: a.database.url });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await readModels(a, FULL_SQL), live);
  });
});

describe('native sessions API (/v2/sessions, /v2/queries, /v2/tool-calls)', () => {
  let broker: TestBroker;
  const get = (path: string) => getJson(`${broker.url}${path}`);
  const ids = (body: { items: { sessionId: string }[] }) => body.items.map((s) => s.sessionId).sort();

  before(async () => {
    broker = await startTestBroker();
    const op = (reason: string, at: number, session: string, name: string, extra: Record<string, unknown> = {}) =>
      send(broker, events(opEvent(reason, at, { queryId: `uid-${name}`, queryName: name, sessionId: session, ...extra })));
    await op('QueryExecutionStart', 0, 's-alpha', 'alpha-q', { userId: 'alice', queryNamespace: 'ns-a', agent: 'agent-x', targetType: 'agent' });
    await op('QueryExecutionComplete', 60_000, 's-alpha', 'alpha-q', { response: 'ok' });
    await op('QueryExecutionStart', 120_000, 's-beta', 'beta-q', { userId: 'bob', queryNamespace: 'ns-b', agent: 'agent-y' });
    await op('QueryExecutionStart', 180_000, 's-gamma', 'gamma-q', { userId: 'alice', queryNamespace: 'ns-a', agent: 'agent-y' });
    await op('QueryExecutionComplete', 240_000, 's-gamma', 'gamma-q', { error: 'model unavailable' });
    // The weather query (spans + operation events) in s-alpha, with an MCP session on its tool call.
    const q = weatherQuery(7, 's-alpha');
    await send(broker, traces(...Object.values(q.spanEnds)));
    await send(broker, events(q.ops.toolComplete));
  });
  after(() => broker.close());

  it('lists sessions newest first with every filter', async () => {
    const all = await get('/v2/sessions');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.body.items.map((s: { sessionId: string }) => s.sessionId),
      ['s-gamma', 's-beta', 's-alpha'],
    );
    assert.equal(all.body.hasMore, false);
    assert.equal(all.body.nextCursor, null);
    const gamma = all.body.items[0];
    assert.equal(gamma.status, 'error');
    assert.equal(gamma.userId, 'alice');
    assert.equal(gamma.hasErrors, true);
    assert.deepEqual(gamma.namespaces, ['ns-a']);
    const alpha = all.body.items.find((s: { sessionId: string }) => s.sessionId === 's-alpha');
    assert.equal(alpha.queryCount, 2);
    // Participants from the queries, their LLM calls and tool calls; tokens from the LLM call (30 + 8),
    // which outranks the query span's own usage (40 + 12).
    assert.deepEqual(
      { agents: alpha.agents, teams: alpha.teams, models: alpha.models, tools: alpha.tools, tokens: alpha.tokens },
      { agents: ['agent-x', 'weather-agent'], teams: [], models: ['gpt-4o'], tools: ['get-weather'], tokens: { input: 30, output: 8, total: 38 } },
    );
    assert.deepEqual(gamma.tokens, { input: 0, output: 0, total: 0 });

    assert.deepEqual(ids((await get('/v2/sessions?status=active')).body), ['s-beta']);
    assert.deepEqual(ids((await get('/v2/sessions?status=error')).body), ['s-gamma']);
    assert.deepEqual(ids((await get('/v2/sessions?status=idle')).body), ['s-alpha']);
    assert.deepEqual(ids((await get('/v2/sessions?userId=alice')).body), ['s-alpha', 's-gamma']);
    assert.deepEqual(ids((await get('/v2/sessions?namespace=ns-b')).body), ['s-beta']);
    assert.deepEqual(ids((await get('/v2/sessions?agent=agent-y')).body), ['s-beta', 's-gamma']);
    assert.deepEqual(ids((await get('/v2/sessions?search=GAM')).body), ['s-gamma']);
    assert.deepEqual(ids((await get('/v2/sessions?search=weather')).body), ['s-alpha'], 'search finds query names');
    assert.deepEqual(ids((await get('/v2/sessions?hasErrors=true')).body), ['s-gamma']);
    assert.deepEqual(ids((await get('/v2/sessions?hasErrors=false')).body), ['s-alpha', 's-beta']);
    assert.deepEqual(ids((await get(`/v2/sessions?from=${iso(150_000)}`)).body), ['s-gamma']);
    assert.deepEqual(ids((await get(`/v2/sessions?to=${iso(130_000)}`)).body), ['s-alpha', 's-beta']);

    assert.equal((await get('/v2/sessions?status=nope')).status, 400);
    assert.equal((await get('/v2/sessions?offset=3')).status, 400, 'no offsets, unknown parameters are refused');
    const bad = await get('/v2/sessions?cursor=not-a-cursor');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_cursor');
  });

  it('pages with a stable keyset cursor while sessions are being added', async () => {
    const base = 10 * 86_400_000;
    await send(broker, {
      path: '/v2/events',
      body: Array.from({ length: 30 }, (_, i) => ({ sessionId: `page-${String(i).padStart(2, '0')}`, type: 'custom.x', time: iso(base + i * 1000), data: {} })),
    });
    // Ties on the activity time are ordered by id.
    await send(broker, {
      path: '/v2/events',
      body: ['page-tie-b', 'page-tie-a'].map((sessionId) => ({ sessionId, type: 'custom.x', time: iso(base + 5_500), data: {} })),
    });
    const seen: string[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    let pages = 0;
    do {
      const page: { status: number; body: any } = await get(`/v2/sessions?search=page-&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200);
      seen.push(...page.body.items.map((s: { sessionId: string }) => s.sessionId));
      cursor = page.body.nextCursor;
      pages++;
      // Concurrent writers: brand-new sessions, newer and older than the page being read.
      await Promise.all([
        send(broker, { path: '/v2/events', body: { sessionId: `page-new-${inserted++}`, type: 'custom.x', time: iso(base + 100_000 + inserted), data: {} } }),
        send(broker, { path: '/v2/events', body: { sessionId: `page-old-${inserted++}`, type: 'custom.x', time: iso(base - 100_000 - inserted), data: {} } }),
      ]);
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length, 'no session twice');
    for (let i = 0; i < 30; i++) assert.ok(seen.includes(`page-${String(i).padStart(2, '0')}`), `page-${i} was listed`);
    const original = seen.filter((s) => /^page-(\d\d|tie-.)$/.test(s));
    assert.equal(original.length, 32);
    assert.deepEqual(original.slice(23, 27), ['page-06', 'page-tie-a', 'page-tie-b', 'page-05'], 'newest first, ties by id');
    assert.ok(pages >= 5);
  });

  it('lists calls only for the newest and unfinished queries of the aggregate, totals for the others', async () => {
    const count = AGGREGATE_DETAILED + 3;
    const ops = Array.from({ length: count }, (_, i) => {
      const d = { queryId: `uid-long-${i}`, queryName: `long-${i}`, queryNamespace: 'default', sessionId: 's-long' };
      const at = 200_000 + i * 10;
      const finished = i !== 0; // the oldest one still runs
      return [
        opEvent('QueryExecutionStart', at, { ...d, agent: 'default/a', targetType: 'agent', input: 'go' }),
        opEvent('ToolCallComplete', at + 1, { ...d, toolName: 'step', toolType: 'mcp', toolId: `long-call-${i}`, result: i, durationMs: 1 }),
        ...(finished ? [opEvent('QueryExecutionComplete', at + 2, { ...d, response: 'ok' })] : []),
      ];
    }).flat();
    for (const op of ops) await send(broker, events(op));
    const agg = (await get('/v2/sessions/s-long')).body;
    assert.equal(agg.limits.detailedQueries, AGGREGATE_DETAILED);
    const items: { queryId: string; phase: string; toolCalls: { items: unknown[]; total: number; truncated: boolean } }[] = agg.queries.items;
    assert.equal(items.length, count);
    const listed = items.filter((q) => q.toolCalls.items.length > 0).map((q) => q.queryId);
    // The newest AGGREGATE_DETAILED, and the running oldest one.
    assert.deepEqual(listed, ['uid-long-0', ...items.slice(-AGGREGATE_DETAILED).map((q) => q.queryId)]);
    for (const q of items) {
      assert.equal(q.toolCalls.total, 1, q.queryId);
      assert.equal(q.toolCalls.truncated, !listed.includes(q.queryId), q.queryId);
    }
  });

  it('shows the newest queries in the aggregate and pages the older ones with its cursor', async () => {
    const total = 105;
    await send(broker, {
      path: '/v2/events',
      // q-003 and q-004 start at the same instant: the key breaks the tie.
      body: Array.from({ length: total }, (_, i) => ({
        sessionId: 's-many',
        type: 'query.started',
        queryId: `q-${String(i).padStart(3, '0')}`,
        time: iso(400_000 + (i === 4 ? 3 : i) * 10),
        data: {},
      })),
    });
    const agg = (await get('/v2/sessions/s-many')).body;
    const ids = (items: { queryId: string }[]) => items.map((q) => q.queryId);
    assert.equal(agg.limits.queries, 100);
    assert.equal(agg.queries.total, total);
    assert.equal(agg.queries.truncated, true);
    assert.deepEqual(
      ids(agg.queries.items),
      Array.from({ length: 100 }, (_, i) => `q-${String(i + 5).padStart(3, '0')}`),
      'the newest, oldest first',
    );
    const first = (await get(`/v2/sessions/s-many/queries?limit=3&cursor=${agg.queries.nextCursor}`)).body;
    assert.deepEqual(ids(first.items), ['q-004', 'q-003', 'q-002']);
    assert.equal(first.hasMore, true);
    assert.ok(Array.isArray(first.items[0].toolCalls.items));
    const second = (await get(`/v2/sessions/s-many/queries?limit=3&cursor=${first.nextCursor}`)).body;
    assert.deepEqual(ids(second.items), ['q-001', 'q-000']);
    assert.equal(second.hasMore, false);
    assert.equal(second.nextCursor, null);
    assert.equal((await get('/v2/sessions/s-many/queries?cursor=bogus')).status, 400);
    assert.equal((await get('/v2/sessions/no-such-session/queries')).status, 404);
  });

  it('answers the session aggregate with queries, calls, chunks, messages and approvals, capped', async () => {
    // 120 tool calls on one query (more than the cap), a chunk stream with an approval request, and messages.
    await send(broker, {
      path: '/v2/events',
      body: Array.from({ length: 120 }, (_, i) => ({
        sessionId: 's-beta',
        type: 'tool.call.completed',
        queryId: 'uid-beta-q',
        time: iso(121_000 + i),
        data: { toolName: 'bulk', toolId: `bulk-${i}`, result: i },
      })),
    });
    const chunks = [
      { id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'hi' } }], ark: { session: 's-beta' } },
      { type: 'tool_approval_request', taskId: 'task-1', toolCalls: [{ name: 'delete-db' }], ark: { session: 's-beta' } },
    ];
    const upload = await fetch(`${broker.url}/stream/uid-beta-q`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: chunks.map((c) => JSON.stringify(c)).join('\n') + '\n',
    });
    assert.equal(upload.status, 200);
    const messages = await postJson(`${broker.url}/messages`, {
      conversation_id: 'conv-1',
      query_id: 'beta-q',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    });
    assert.ok(messages.status < 300, JSON.stringify(messages.body));

    const res = await get('/v2/sessions/s-beta');
    assert.equal(res.status, 200);
    const agg = res.body;
    assert.equal(agg.session.sessionId, 's-beta');
    assert.equal(agg.queries.total, 1);
    assert.equal(agg.queries.truncated, false);
    const q = agg.queries.items[0];
    assert.equal(q.queryId, 'uid-beta-q');
    assert.equal(q.phase, 'running');
    assert.equal(q.toolCalls.total, 120);
    assert.equal(q.toolCalls.items.length, agg.limits.toolCallsPerQuery);
    assert.equal(q.toolCalls.truncated, true);
    assert.equal(q.chunks.count, 1);
    assert.equal(agg.messages.count, 2);
    assert.equal(agg.pendingApprovals.total, 1);
    assert.equal(agg.pendingApprovals.items[0].taskId, 'task-1');

    const alpha = (await get('/v2/sessions/s-alpha')).body;
    const weather = alpha.queries.items.find((x: { queryId: string }) => x.queryId === 'uid-7');
    assert.equal(weather.phase, 'done');
    assert.equal(weather.toolCalls.items.length, 1);
    assert.equal(weather.toolCalls.items[0].result, 'sunny');
    assert.equal(weather.toolCalls.items[0].mcpSessionId, 'mcp-7');
    assert.equal(weather.llmCalls.items[0].model, 'gpt-4o');
    assert.deepEqual(weather.llmCalls.items[0].tokens, { input: 30, output: 8, total: 38 });
    assert.equal((await get('/v2/sessions/nope')).status, 404);
  });

  it('answers one query by UID or name', async () => {
    const byUid = await get('/v2/queries/uid-gamma-q');
    assert.equal(byUid.status, 200);
    assert.equal(byUid.body.phase, 'error');
    assert.equal(byUid.body.error, 'model unavailable');
    assert.equal(byUid.body.sessionId, 's-gamma');
    const byName = await get('/v2/queries/weather-7');
    assert.equal(byName.body.queryId, 'uid-7');
    assert.equal(byName.body.toolCalls.items[0].toolId, 'call-7');
    assert.equal((await get('/v2/queries/none')).status, 404);
  });

  it('looks tool calls up by MCP session, query, session and tool name, paginated', async () => {
    const byMcp = await get('/v2/tool-calls?mcpSessionId=mcp-7');
    assert.equal(byMcp.status, 200);
    assert.equal(byMcp.body.items.length, 1);
    assert.equal(byMcp.body.items[0].queryId, 'uid-7');
    assert.equal(byMcp.body.items[0].sessionId, 's-alpha', 'which session (and query) the MCP session belongs to');
    assert.deepEqual(
      (await get('/v2/tool-calls?queryId=weather-7')).body.items.map((t: { id: string }) => t.id),
      ['uid-7|call-7'],
    );
    assert.equal((await get('/v2/tool-calls?sessionId=s-alpha')).body.items.length, 1);
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: any } = await get(`/v2/tool-calls?toolName=bulk&limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(...page.body.items.map((t: { toolId: string }) => t.toolId));
      cursor = page.body.nextCursor;
    } while (cursor);
    assert.equal(pages.length, 120);
    assert.equal(new Set(pages).size, 120);
    assert.equal(pages[0], 'bulk-0');
    assert.equal((await get('/v2/tool-calls?cursor=x')).status, 400);
  });

  it('answers the analytics views', async () => {
    const one = async (text: string) => (await broker.sql.query(text)).rows;
    const perDay = await one(`SELECT * FROM analytics_sessions_per_day WHERE namespace = 'ns-a'`);
    assert.deepEqual(
      perDay.map((r) => [r.day.toISOString().slice(0, 10), Number(r.sessions), Number(r.failed_queries)]),
      [['2026-05-01', 2, 1]],
    );
    const tokens = await one(`SELECT * FROM analytics_token_usage WHERE model = 'gpt-4o'`);
    assert.equal(tokens.length, 1);
    assert.equal(tokens[0].agent, 'weather-agent');
    assert.equal(Number(tokens[0].tokens_total), 38);
    const latency = await one(`SELECT * FROM analytics_tool_latency WHERE tool_name = 'get-weather'`);
    assert.equal(Number(latency[0].calls), 1);
    assert.equal(latency[0].p50_ms, 500);
    const errors = await one(`SELECT * FROM analytics_error_rates WHERE namespace = 'ns-a' ORDER BY target`);
    assert.deepEqual(
      errors.map((r) => [r.target, Number(r.queries), Number(r.failed), Number(r.error_rate)]),
      [
        ['agent-x', 1, 0, 0],
        ['agent-y', 1, 1, 1],
      ],
    );
  });

  it('watches a session: the aggregate first, then its events', async () => {
    const watcher = new RecordingEventSource(`${broker.url}/v2/sessions/s-gamma?watch=true`);
    try {
      const [snapshot] = await watcher.waitFor(1);
      assert.equal(snapshot!.data.type, 'snapshot');
      assert.equal(snapshot!.data.aggregate.session.sessionId, 's-gamma');
      const sequence = snapshot!.data.sequence as number;
      assert.equal(sequence, snapshot!.data.aggregate.session.lastSequence);
      await sleep(50);
      await send(broker, { path: '/v2/events', body: { sessionId: 's-gamma', type: 'custom.after', data: { n: 1 } } });
      const messages = await watcher.waitFor(2);
      assert.equal(messages[1]!.data.type, 'custom.after');
      assert.equal(messages[1]!.data.sequence, sequence + 1);
      assert.equal(messages[1]!.id, String(sequence + 1));
    } finally {
      watcher.close();
    }
  });

  it('lists the sessions whose activity overlaps from/to, those still active after `to` first', async () => {
    // Far from the other tests' sessions (and from now), so only these four can overlap.
    const base = 400 * 86_400_000;
    const span = (sessionId: string, first: number, last: number) =>
      [first, last].map((at) => ({ sessionId, type: 'custom.activity', time: iso(base + at), data: {} }));
    await send(broker, {
      path: '/v2/events',
      body: [
        ...span('span-long', 0, 300_000),
        ...span('span-early', 0, 50_000),
        ...span('span-late', 250_000, 400_000),
        ...span('span-old', -100_000, -90_000),
      ],
    });
    const inOrder = (body: { items: { sessionId: string }[] }) => body.items.map((x) => x.sessionId);
    const window = `from=${iso(base + 20_000)}&to=${iso(base + 200_000)}`;
    assert.deepEqual(inOrder((await get(`/v2/sessions?${window}`)).body), ['span-long', 'span-early']);
    const first = (await get(`/v2/sessions?${window}&limit=1`)).body;
    assert.deepEqual(inOrder(first), ['span-long']);
    const second = (await get(`/v2/sessions?${window}&limit=1&cursor=${first.nextCursor}`)).body;
    assert.deepEqual(inOrder(second), ['span-early']);
    assert.equal(second.hasMore, false);
  });
});

describe('session participants and token totals (call totals kept on queries)', () => {
  let broker: TestBroker;
  const get = (path: string) => getJson(`${broker.url}${path}`);
  /** How many queries a recompute of their call totals from scratch would change: 0 when the live ones are right. */
  const stale = async () =>
    Number((await broker.sql.query('SELECT ark_roll_up_query_calls(array_agg(tenant_id), array_agg(query_key)) AS n FROM queries')).rows[0].n);

  before(async () => {
    // More appending transactions in flight than the default, so the race below has more chances.
    broker = await startTestBroker({ APPEND_MAX_IN_FLIGHT: '8' });
  });
  after(() => broker.close());

  it('moves a query from its span fallback session (the query UID) to the real one, with its calls', async () => {
    const trace = 7_001;
    const attributes = { 'query.uid': 'uid-move', 'query.name': 'move-q' };
    await send(
      broker,
      traces(
        { trace, span: 1, name: 'query.move-q', start: 0, attributes },
        {
          trace,
          span: 2,
          parent: 1,
          name: 'llm.gpt-4o-mini',
          start: 10,
          end: 900,
          attributes: { ...attributes, 'llm.model.name': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 5, 'gen_ai.usage.output_tokens': 3 },
        },
      ),
    );
    // No session attribute: the spans fall back to the query UID as their session (DESIGN §5).
    const placeholder = 'uid-move';
    const before = (await get(`/v2/sessions/${placeholder}`)).body.session;
    assert.deepEqual([before.queryCount, before.status, before.models, before.tokens.total], [1, 'active', ['gpt-4o-mini'], 8]);

    await send(
      broker,
      events(opEvent('QueryExecutionStart', 0, { queryId: 'uid-move', queryName: 'move-q', sessionId: 's-moved', agent: 'mover', targetType: 'agent' })),
    );
    const left = (await get(`/v2/sessions/${placeholder}`)).body.session;
    assert.deepEqual([left.queryCount, left.status, left.models, left.tokens.total], [0, 'idle', [], 0]);
    const moved = (await get('/v2/sessions/s-moved')).body.session;
    assert.deepEqual([moved.queryCount, moved.status, moved.agents, moved.models, moved.tokens.total], [1, 'active', ['mover'], ['gpt-4o-mini'], 8]);
    assert.equal(await stale(), 0);
  });

  it('stays exact when one query is written through two sessions at once', async () => {
    // Each query's spans carry no session (they file it under the query UID) while its operation events
    // name the real session: the two kinds of request race, in every order, across three sessions.
    const requests = (round: number) =>
      Array.from({ length: 24 }, (_, i) => {
        const trace = 8_000 + round * 100 + i;
        const uid = `uid-race-${round}-${i}`;
        const session = `s-race-${round}-${i % 3}`;
        const attributes = { 'query.uid': uid, 'query.name': `race-${i}` };
        const d = { queryId: uid, queryName: `race-${i}`, sessionId: session, agent: `agent-${i % 2}`, targetType: 'agent' };
        return [
          traces(
            { trace, span: 1, name: `query.race-${i}`, start: 0, end: 2_000, attributes },
            {
              trace,
              span: 2,
              parent: 1,
              name: 'llm.gpt-4o',
              start: 10,
              end: 900,
              attributes: { ...attributes, 'llm.model.name': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': i },
            },
          ),
          traces(
            { trace, span: 3, parent: 1, name: 'tool.lookup', start: 950, end: 990, attributes: { ...attributes, 'tool.name': 'lookup', 'tool.id': `t-${i}` } },
            {
              trace,
              span: 4,
              parent: 1,
              name: 'llm.gpt-4o-mini',
              start: 1_000,
              end: 1_900,
              attributes: { ...attributes, 'llm.model.name': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 1, 'gen_ai.usage.output_tokens': 1 },
            },
          ),
          events(opEvent('QueryExecutionStart', 0, d)),
          events(opEvent(i % 4 === 0 ? 'QueryExecutionError' : 'QueryExecutionComplete', 2_000, { ...d, ...(i % 4 === 0 ? { error: 'boom' } : {}) })),
        ];
      });
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        requests(round)
          .flat()
          .map((r) => send(broker, r)),
      );
      assert.equal(await stale(), 0, `round ${round}: every query's call totals equal a recompute`);
    }
    const { body } = await get('/v2/sessions?search=s-race-&limit=100');
    const seen = (
      body.items as {
        sessionId: string;
        queryCount: number;
        errorQueryCount: number;
        agents: string[];
        models: string[];
        tools: string[];
        tokens: { output: number };
      }[]
    )
      .map((s) => ({
        session: s.sessionId,
        n: s.queryCount,
        errors: s.errorQueryCount,
        agents: s.agents,
        models: s.models,
        tools: s.tools,
        out: s.tokens.output,
      }))
      .sort((a, b) => a.session.localeCompare(b.session));
    const expected = Array.from({ length: rounds }, (_, round) =>
      [0, 1, 2].map((r) => {
        const mine = Array.from({ length: 24 }, (_, i) => i).filter((i) => i % 3 === r);
        return {
          session: `s-race-${round}-${r}`,
          n: 8,
          errors: mine.filter((i) => i % 4 === 0).length,
          agents: ['agent-0', 'agent-1'],
          models: ['gpt-4o', 'gpt-4o-mini'],
          tools: ['lookup'],
          out: mine.reduce((a, i) => a + i + 1, 0),
        };
      }),
    ).flat();
    assert.deepEqual(seen, expected);
  });

  it('summarises a session by upstream status rule, counts, participants and tokens (ark_session_work)', async () => {
    // Each case: a session's queries as [phase, seconds of last event, agent, team, tokens, LLM tokens, models];
    // the expected status, error count and totals.
    type Q = [phase: string, at: number, agent: string | null, team: string | null, tokens: number | null, llm: number | null, models: string[]];
    const cases: { name: string; queries: Q[]; status: string; errors: number; agents: string[]; teams: string[]; models: string[]; tokens: number }[] = [
      { name: 'none', queries: [], status: 'idle', errors: 0, agents: [], teams: [], models: [], tokens: 0 },
      {
        name: 'running',
        queries: [['running', 1, 'b', null, null, 7, ['m2', 'm1']]],
        status: 'active',
        errors: 0,
        agents: ['b'],
        teams: [],
        models: ['m1', 'm2'],
        tokens: 7,
      },
      {
        name: 'pending beside error',
        queries: [
          ['error', 2, 'a', null, 5, null, []],
          ['pending', 1, 'a', null, null, null, []],
        ],
        status: 'active',
        errors: 1,
        agents: ['a'],
        teams: [],
        models: [],
        tokens: 5,
      },
      {
        name: 'latest failed',
        queries: [
          ['done', 1, 'b', null, 3, 4, ['m1']],
          ['error', 2, 'a', 't', null, null, ['m1']],
        ],
        status: 'error',
        errors: 1,
        agents: ['a', 'b'],
        teams: ['t'],
        models: ['m1'],
        tokens: 4,
      },
      {
        name: 'failed, then done',
        queries: [
          ['error', 1, 'a', null, 1, null, []],
          ['done', 2, 'a', null, 2, null, []],
        ],
        status: 'idle',
        errors: 1,
        agents: ['a'],
        teams: [],
        models: [],
        tokens: 3,
      },
      { name: 'canceled', queries: [['canceled', 1, null, null, null, null, []]], status: 'idle', errors: 0, agents: [], teams: [], models: [], tokens: 0 },
    ];
    for (const c of cases) {
      const session = `work-${c.name.replaceAll(' ', '-')}`;
      await broker.sql.query(
        `INSERT INTO sessions (tenant_id, session_id, first_activity_at, last_activity_at, event_count, last_sequence) VALUES ('work', $1, now(), now(), 1, 1)`,
        [session],
      );
      for (const [i, [phase, at, agent, team, tokens, llm, models]] of c.queries.entries()) {
        await broker.sql.query(
          `INSERT INTO queries (tenant_id, query_key, session_id, session_rank, phase, agent, target_type, target_name, tokens_total, llm_tokens_total, models,
                                started_at, last_event_at, event_count, first_position)
           VALUES ('work', $1, $2, 2, $3, $4, $5, $6, $7, $8, $9, to_timestamp(0), to_timestamp($10), 1, 1)`,
          [`${session}-${i}`, session, phase, agent, team ? 'team' : 'agent', team ?? agent, tokens, llm, [...models].sort(), at],
        );
      }
      const { rows } = await broker.sql.query(`SELECT * FROM ark_session_work('work', $1)`, [session]);
      assert.deepEqual(
        rows.map((r) => ({
          status: r.status,
          n: r.query_count,
          errors: r.error_query_count,
          agents: r.agents,
          teams: r.teams,
          models: r.models,
          tokens: Number(r.tokens_total),
        })),
        [{ status: c.status, n: c.queries.length, errors: c.errors, agents: c.agents, teams: c.teams, models: c.models, tokens: c.tokens }],
        c.name,
      );
    }
  });

  it('gives analysts the same summaries in SQL (session_summaries) as GET /v2/sessions', async () => {
    const { body } = await get('/v2/sessions?limit=100');
    const { rows } = await broker.sql.query(`SELECT * FROM session_summaries WHERE tenant_id = 'default' ORDER BY last_activity_at DESC, session_id LIMIT 100`);
    assert.ok(
      rows.some((r) => r.query_count === 0 && r.status === 'idle'),
      'with the sessions whose queries moved away',
    );
    const fromSql = rows.map((r) => ({
      sessionId: r.session_id,
      userId: r.user_id,
      status: r.status,
      firstActivityAt: r.first_activity_at.toISOString(),
      lastActivityAt: r.last_activity_at.toISOString(),
      eventCount: Number(r.event_count),
      queryCount: r.query_count,
      errorQueryCount: r.error_query_count,
      hasErrors: r.has_errors,
      namespaces: r.namespaces,
      agents: r.agents,
      teams: r.teams,
      models: r.models,
      tools: r.tools,
      tokens: { input: Number(r.tokens_input), output: Number(r.tokens_output), total: Number(r.tokens_total) },
    }));
    const fromApi = (body.items as Record<string, unknown>[]).map(({ lastSequence: _, ...rest }) => rest);
    assert.deepEqual(fromSql, fromApi);
  });
});
