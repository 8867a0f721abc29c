/**
 * The queries, tool_calls and llm_calls projectors, fed through the group-commit writer with the
 * broker's inline projectors (real PostgreSQL, no broker process): one Ark query seen through its
 * operation events, its spans and its completion chunks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NewArkEvent } from '#ark/event-store';
import { normalizeChunk, normalizeOperationEvent, normalizeSpan, resolveSpanSessions, type OperationEvent } from '#ark/normalizer';
import type { Attributes, OtlpSpan } from '#ark/otlp';
import { nanos, operationEvent, otlpSpan } from '../support/ark-payloads.js';
import { openEventStoreDatabase, type EventStoreDatabase } from '../support/event-store-database.js';

const TENANT = 'tenant-work';

describe('work projections (queries, tool_calls, llm_calls)', () => {
  let store: EventStoreDatabase;
  before(async () => {
    store = await openEventStoreDatabase();
  });
  after(() => store.close());

  const appendOperationEvents = (bodies: OperationEvent[]) =>
    store.writer.append(
      bodies.map((b) => {
        const { sessionId, event } = normalizeOperationEvent(b);
        return { tenantId: TENANT, sessionId, event };
      }),
    );
  const appendSpans = (spans: OtlpSpan[]) => {
    const normalized = spans.map(normalizeSpan);
    const sessions = resolveSpanSessions(normalized, new Map());
    return store.writer.append(normalized.map((n, i) => ({ tenantId: TENANT, sessionId: sessions[i]!, event: n.event })));
  };
  const appendChunk = (queryId: string, chunk: unknown, index: number) => {
    const { sessionId, event } = normalizeChunk({ queryId, chunk, index });
    return store.writer.append([{ tenantId: TENANT, sessionId, event }]);
  };
  const row = async (table: string, where: Record<string, string>) => {
    const keys = Object.keys(where);
    const { rows } = await store.sql.query(`SELECT * FROM ${table} WHERE ${keys.map((k, i) => `${k} = $${i + 1}`).join(' AND ')}`, Object.values(where));
    assert.equal(rows.length, 1, `one ${table} row for ${JSON.stringify(where)}, got ${rows.length}`);
    return rows[0];
  };

  it('merges a query, its tool call and its LLM call from operation events, spans and chunks into one row each', async () => {
    const uid = 'a3c1-uid-weather';
    const trace = 'c0ffee00c0ffee00c0ffee00c0ffee01';
    const t0 = Date.now() - 2_000;
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    const ids = { sessionId: 'sess-weather', queryId: uid, queryName: 'weather-report', queryNamespace: 'default' };
    // Spans name the query UID here too, which is what lets the projectors correlate them by query.
    const spanAttributes: Attributes = { 'ark.session.id': 'sess-weather', 'query.name': 'weather-report', 'query.namespace': 'default', 'query.uid': uid };
    const spanAt = (name: string, spanId: string, parent: string | null, startMs: number, endMs: number | null, attributes: Attributes = {}) =>
      otlpSpan({
        traceId: trace,
        spanId,
        parentSpanId: parent,
        name,
        startTimeUnixNano: nanos(t0 + startMs),
        endTimeUnixNano: endMs === null ? null : nanos(t0 + endMs),
        attributes: { ...spanAttributes, ...attributes },
      });
    const toolAttributes = {
      'tool.name': 'get_weather',
      'tool.type': 'mcp',
      'tool.id': 'call_w1',
      'tool.input': '{"city": "Paris"}',
      'mcp.session.id': 'mcp-7',
    };
    const llmTokens = { 'gen_ai.usage.input_tokens': 120, 'gen_ai.usage.output_tokens': 30 };

    // In flight: the query, its LLM call and its tool call have started.
    await appendOperationEvents([
      operationEvent('QueryExecutionStart', { ...ids, targetType: 'agent', agent: 'weather-agent', input: 'Weather in Paris?' }, at(0)),
    ]);
    await appendSpans([
      spanAt('query.weather-report', '1000000000000001', null, 0, null),
      spanAt('llm.gpt-4o', '1000000000000002', '1000000000000001', 100, null, { 'llm.model.name': 'gpt-4o' }),
    ]);
    await appendOperationEvents([
      operationEvent('ToolCallStart', { ...ids, toolName: 'get_weather', toolType: 'mcp', toolId: 'call_w1', parameters: '{"city":"Paris"}' }, at(900)),
    ]);
    let query = await row('queries', { tenant_id: TENANT, query_key: uid });
    assert.equal(query.phase, 'running');
    assert.equal((await row('tool_calls', { tenant_id: TENANT, call_key: `${uid}|call_w1` })).status, 'started');
    assert.equal((await row('llm_calls', { tenant_id: TENANT, call_key: `${trace}:1000000000000002` })).status, 'started');

    // The first chunk of the completion stream arrives (its time is when it was received: now).
    await appendChunk('weather-report', { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'Cloudy' }, finish_reason: null }] }, 0);
    // Everything ends; the spans are exported once more (an exporter retry): nothing changes twice.
    const ended = [
      spanAt('llm.gpt-4o', '1000000000000002', '1000000000000001', 100, 60_000, { 'llm.model.name': 'gpt-4o', 'llm.provider': 'openai', ...llmTokens }),
      spanAt('tool.get_weather', '1000000000000003', '1000000000000002', 900, 985, { ...toolAttributes, 'tool.output': '18°C' }),
      spanAt('query.weather-report', '1000000000000001', null, 0, 61_000, { 'output.value': 'Cloudy, 18°C' }),
    ];
    await appendSpans(ended);
    await appendSpans(ended);
    await appendOperationEvents([
      operationEvent('ToolCallComplete', { ...ids, toolName: 'get_weather', toolId: 'call_w1', result: '18°C', durationMs: '85' }, at(985)),
      operationEvent('QueryExecutionComplete', { ...ids, response: 'Cloudy, 18°C', durationMs: '61000' }, at(61_000)),
    ]);

    query = await row('queries', { tenant_id: TENANT, query_key: uid });
    assert.equal(query.phase, 'done');
    assert.equal(query.query_id, uid);
    assert.equal(query.query_name, 'weather-report');
    assert.equal(query.session_id, 'sess-weather');
    assert.equal(query.session_rank, 2);
    assert.equal(query.namespace, 'default');
    assert.equal(query.target_type, 'agent');
    assert.equal(query.target_name, 'weather-agent');
    assert.equal(query.agent, 'weather-agent');
    assert.equal(query.input, 'Weather in Paris?');
    assert.equal(query.response, 'Cloudy, 18°C');
    assert.equal(query.started_at.toISOString(), at(0));
    assert.equal(query.completed_at.toISOString(), at(61_000));
    assert.equal(query.duration_ms, 61_000);
    // Every event of the query (operation events and spans, not the chunk), the retried spans once.
    assert.equal(query.event_count, 9);
    assert.deepEqual(query.models, ['gpt-4o']);
    assert.deepEqual(query.tools, ['get_weather']);
    assert.deepEqual([query.llm_tokens_input, query.llm_tokens_output, query.llm_tokens_total], [120, 30, 150]);

    const tool = await row('tool_calls', { tenant_id: TENANT, call_key: `${uid}|call_w1` });
    assert.equal(tool.query_key, uid);
    assert.equal(tool.status, 'completed');
    assert.equal(tool.tool_name, 'get_weather');
    assert.equal(tool.tool_type, 'mcp');
    assert.equal(tool.tool_id, 'call_w1');
    assert.equal(tool.span_id, '1000000000000003');
    assert.equal(tool.trace_id, trace);
    assert.deepEqual(tool.parameters, { city: 'Paris' }, 'the span text and the posted text are one JSON value');
    assert.equal(tool.result, '18°C');
    assert.equal(tool.mcp_session_id, 'mcp-7');
    assert.equal(tool.started_at.toISOString(), at(900));
    assert.equal(tool.ended_at.toISOString(), at(985));
    assert.equal(tool.duration_ms, 85);
    assert.equal(tool.event_count, 3);

    const llm = await row('llm_calls', { tenant_id: TENANT, call_key: `${trace}:1000000000000002` });
    assert.equal(llm.query_key, uid);
    assert.equal(llm.query_name, 'weather-report');
    assert.equal(llm.status, 'completed');
    assert.equal(llm.model, 'gpt-4o');
    assert.equal(llm.model_type, 'openai');
    assert.deepEqual([llm.tokens_input, llm.tokens_output, llm.tokens_total], [120, 30, null]);
    assert.equal(llm.started_at.toISOString(), at(100));
    assert.equal(llm.ended_at.toISOString(), at(60_000));
    assert.equal(llm.event_count, 2);
    const chunk = await row('events', { tenant_id: TENANT, type: 'llm.chunk' });
    assert.equal(llm.first_chunk_at.toISOString(), chunk.time.toISOString(), 'time to first token from the query’s stream');
  });

  const failures: { title: string; bodies: (ids: OperationEvent['data'], at: (ms: number) => string) => OperationEvent[]; phase: string; error: unknown }[] = [
    {
      title: 'an error',
      bodies: (ids, at) => [operationEvent('QueryExecutionStart', ids, at(0)), operationEvent('QueryExecutionError', { ...ids, error: 'LLM timeout' }, at(10))],
      phase: 'error',
      error: 'LLM timeout',
    },
    {
      title: 'a completion that carries an error',
      bodies: (ids, at) => [operationEvent('QueryExecutionStart', ids, at(0)), operationEvent('QueryExecutionComplete', { ...ids, error: 'partial' }, at(10))],
      phase: 'error',
      error: 'partial',
    },
    {
      title: 'a cancel',
      bodies: (ids, at) => [operationEvent('QueryExecutionStart', ids, at(0)), operationEvent('QueryExecutionCanceled', ids, at(10))],
      phase: 'canceled',
      error: null,
    },
    {
      title: 'an error that arrives before its start',
      bodies: (ids, at) => [operationEvent('QueryExecutionError', { ...ids, error: 'boom' }, at(10)), operationEvent('QueryExecutionStart', ids, at(0))],
      phase: 'error',
      error: 'boom',
    },
    {
      title: 'a completion after an error (producer time)',
      bodies: (ids, at) => [
        operationEvent('QueryExecutionStart', ids, at(0)),
        operationEvent('QueryExecutionComplete', ids, at(20)),
        operationEvent('QueryExecutionError', { ...ids, error: 'retry failed' }, at(10)),
      ],
      phase: 'done',
      error: 'retry failed',
    },
    {
      title: 'a tool error (upstream: any *Error reason is an error)',
      bodies: (ids, at) => [
        operationEvent('QueryExecutionStart', ids, at(0)),
        operationEvent('ToolCallError', { ...ids, toolId: 'c1', error: 'exit 1' }, at(10)),
      ],
      phase: 'error',
      error: 'exit 1',
    },
  ];
  failures.forEach((c, n) => {
    it(`derives the query phase from ${c.title}: ${c.phase}`, async () => {
      const uid = `uid-phase-${n}`;
      const t0 = Date.parse('2024-06-10T08:00:00Z');
      await appendOperationEvents(c.bodies({ sessionId: `sess-phase-${n}`, queryId: uid, queryName: `phase-${n}` }, (ms) => new Date(t0 + ms).toISOString()));
      const query = await row('queries', { tenant_id: TENANT, query_key: uid });
      assert.equal(query.phase, c.phase);
      assert.deepEqual(query.error, c.error);
    });
  });

  it('keys work without a query UID by its trace, and without either by its session', async () => {
    const trace = 'feed0000feed0000feed0000feed0002';
    await appendSpans([
      otlpSpan({ traceId: trace, spanId: '2000000000000001', name: 'tool.lookup', attributes: { 'ark.session.id': 'sess-noid', 'tool.name': 'lookup' } }),
    ]);
    const tool = await row('tool_calls', { tenant_id: TENANT, query_key: `trace:${trace}` });
    assert.equal(tool.call_key, `trace:${trace}|span:2000000000000001`);
    assert.equal((await row('queries', { tenant_id: TENANT, query_key: `trace:${trace}` })).session_id, 'sess-noid');

    const event: NewArkEvent = { type: 'tool.call.completed', source: 'api', data: { toolName: 'grep' } };
    await store.writer.append([{ tenantId: TENANT, sessionId: 'sess-bare', event }]);
    assert.equal((await row('tool_calls', { tenant_id: TENANT, query_key: 'session:sess-bare' })).call_key, 'session:sess-bare|name:grep');
  });

  it('pairs LLMCall operation events with the llm span of their call by query, model and start (Ark sends no call id), in either order', async () => {
    const t0 = Date.parse('2024-06-10T09:00:00Z');
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    const calls = [
      { start: 0, end: 1_000, span: '3000000000000001', tokens: 11 },
      { start: 1_200, end: 2_000, span: '3000000000000002', tokens: 22 },
    ];
    const run = async (n: number, spansFirst: boolean) => {
      const ids = { sessionId: `sess-llm-op-${n}`, queryId: `uid-llm-op-${n}`, queryName: 'llm-op', queryNamespace: 'default' };
      const trace = `abcd0000abcd0000abcd0000abcd000${n}`;
      // The events follow their span's start by < 1 ms, the Complete precedes its end; durationMs as Go formats it.
      const ops = calls.flatMap((c) => [
        operationEvent('LLMCallStart', { ...ids, model: 'gpt-4o', modelType: 'openai' }, at(c.start).replace('Z', '400000Z')),
        operationEvent('LLMCallComplete', { ...ids, model: 'gpt-4o', durationMs: (c.end - c.start - 0.9).toFixed(2) }, at(c.end - 1).replace('Z', '500000Z')),
      ]);
      const spans = calls.map((c) =>
        otlpSpan({
          traceId: trace,
          spanId: c.span,
          name: 'llm.gpt-4o',
          startTimeUnixNano: nanos(t0 + c.start),
          endTimeUnixNano: nanos(t0 + c.end),
          attributes: {
            'ark.session.id': ids.sessionId,
            'query.name': 'llm-op',
            'query.namespace': 'default',
            'llm.model.name': 'gpt-4o',
            'gen_ai.usage.input_tokens': c.tokens,
          },
        }),
      );
      if (spansFirst) await appendSpans(spans);
      for (const op of ops) await appendOperationEvents([op]);
      if (!spansFirst) await appendSpans(spans);
      const { rows } = await store.sql.query('SELECT * FROM llm_calls WHERE query_id = $1 ORDER BY started_at', [ids.queryId]);
      const near = (ms: number) => calls.find((c) => ms >= c.start - 1 && ms <= c.start)?.start ?? ms;
      assert.deepEqual(
        // A start read from a Complete event (its time minus durationMs, both rounded) may be up to 1 ms early.
        rows.map((r) => ({
          span: r.span_id,
          tokens: Number(r.tokens_input),
          status: r.status,
          started: near(r.started_at.getTime() - t0),
          ended: r.ended_at.toISOString(),
        })),
        calls.map((c) => ({ span: c.span, tokens: c.tokens, status: 'completed', started: c.start, ended: at(c.end) })),
        `spans first: ${spansFirst}`,
      );
      const { rows: log } = await store.sql.query("SELECT type, source, data->>'callKey' AS call FROM events WHERE session_id = $1 ORDER BY sequence", [
        ids.sessionId,
      ]);
      for (const r of rows) {
        const of = log.filter((e) => e.call === r.call_key);
        assert.deepEqual(
          of.map((e) => e.type).sort(),
          ['llm.call.completed', 'llm.call.started', 'llm.call.updated'],
          `one start and one end per call: ${JSON.stringify(log)}`,
        );
      }
    };
    await run(1, false);
    await run(2, true);
  });

  it('pairs an LLMCallComplete without durationMs with the open call of its model', async () => {
    const ids = { sessionId: 'sess-llm-open', queryId: 'uid-llm-open', queryName: 'llm-open' };
    await appendOperationEvents([operationEvent('LLMCallStart', { ...ids, model: 'gpt-4o' }, '2024-06-10T09:00:00Z')]);
    await appendOperationEvents([operationEvent('LLMCallComplete', { ...ids, model: 'gpt-4o' }, '2024-06-10T09:00:01Z')]);
    const llm = await row('llm_calls', { tenant_id: TENANT, query_key: 'uid-llm-open' });
    assert.equal(llm.status, 'completed');
    assert.equal(llm.started_at.toISOString(), '2024-06-10T09:00:00.000Z');
    assert.equal(llm.ended_at.toISOString(), '2024-06-10T09:00:01.000Z');
    assert.equal((await row('queries', { tenant_id: TENANT, query_key: 'uid-llm-open' })).phase, 'running');
  });

  it('ranks a failed tool call over a completed one, whichever arrives last', async () => {
    const ids = { sessionId: 'sess-rank', queryId: 'uid-rank', queryName: 'rank' };
    await appendOperationEvents([
      operationEvent('ToolCallError', { ...ids, toolId: 'call_r', error: 'denied' }, '2024-06-10T09:00:02Z'),
      operationEvent('ToolCallStart', { ...ids, toolId: 'call_r' }, '2024-06-10T09:00:00Z'),
    ]);
    await appendOperationEvents([operationEvent('ToolCallComplete', { ...ids, toolId: 'call_r' }, '2024-06-10T09:00:01Z')]);
    const tool = await row('tool_calls', { tenant_id: TENANT, call_key: 'uid-rank|call_r' });
    assert.equal(tool.status, 'failed');
    assert.equal(tool.error, 'denied');
    assert.equal(tool.started_at.toISOString(), '2024-06-10T09:00:00.000Z');
  });
});
