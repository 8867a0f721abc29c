/**
 * normalizeSpan / resolveSpanSessions: OTLP spans as Ark's controller and executors export them
 * (`query.<name>`, `agent.<name>`, `llm.<model>`, `tool.<name>` spans with Ark's attributes) → ark events.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeSpan, resolveSpanSessions, spanSessionId } from '#ark/normalizer';
import { OtlpTraceDecoder, type Attributes, type OtlpSpan } from '#ark/otlp';
import { otlpSpan } from '../support/ark-payloads.js';

const { traceId: TRACE, startTimeUnixNano: START, endTimeUnixNano: END } = otlpSpan();

const span = otlpSpan;

const data = (s: OtlpSpan) => normalizeSpan(s).event.data as Record<string, unknown>;

describe('span normalizer: types', () => {
  const cases: { name: string; ended: boolean; status?: number; type: string }[] = [
    { name: 'query.weather-report', ended: false, type: 'query.started' },
    { name: 'query.weather-report', ended: true, type: 'query.completed' },
    { name: 'query.weather-report', ended: true, status: 2, type: 'query.failed' },
    { name: 'query.weather-report', ended: true, status: 1, type: 'query.completed' },
    { name: 'agent.default/weather-agent', ended: false, type: 'agent.started' },
    { name: 'agent.default/weather-agent', ended: true, status: 2, type: 'agent.failed' },
    { name: 'team.research-team', ended: true, type: 'team.completed' },
    { name: 'turn.2', ended: true, type: 'team.turn.completed' },
    { name: 'llm.gpt-4o', ended: false, type: 'llm.call.started' },
    { name: 'llm.gpt-4o', ended: true, type: 'llm.call.completed' },
    { name: 'tool.get_weather', ended: true, status: 2, type: 'tool.call.failed' },
    // Unmapped names, and a bare family prefix with no subject, are generic spans.
    { name: 'HTTP POST', ended: false, type: 'span.started' },
    { name: 'HTTP POST', ended: true, type: 'span.ended' },
    { name: 'HTTP POST', ended: true, status: 2, type: 'span.ended' },
    { name: 'query.', ended: true, type: 'span.ended' },
    { name: 'queries.list', ended: true, type: 'span.ended' },
  ];
  for (const c of cases) {
    it(`${c.name} (${c.ended ? 'ended' : 'open'}, status ${c.status ?? 0}) → ${c.type}`, () => {
      const s = span({ name: c.name, endTimeUnixNano: c.ended ? END : null, status: { code: c.status ?? 0, message: null } });
      assert.equal(normalizeSpan(s).event.type, c.type);
    });
  }
});

describe('span normalizer: start and end', () => {
  it('reads an OTLP span with endTimeUnixNano 0 as a start, timed at its start, with no duration', () => {
    const request = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'ark-controller' } }] },
          scopeSpans: [
            {
              scope: { name: 'ark/controller' },
              spans: [
                {
                  traceId: TRACE,
                  spanId: 'aaaaaaaaaaaaaaa1',
                  name: 'query.weather-report',
                  kind: 1,
                  startTimeUnixNano: START,
                  endTimeUnixNano: '0',
                  attributes: [{ key: 'ark.session.id', value: { stringValue: 'sess-1' } }],
                },
              ],
            },
          ],
        },
      ],
    };
    const [decoded] = new OtlpTraceDecoder().fromJson(request).spans;
    const { event } = normalizeSpan(decoded!);
    assert.equal(event.type, 'query.started');
    assert.equal(event.time?.toISOString(), '2024-06-10T06:13:20.000Z');
    assert.equal(event.dedupeKey, `span:${TRACE}:aaaaaaaaaaaaaaa1:start`);
    assert.equal('durationMs' in (event.data as object), false);
  });

  it('times an ended span at its end and gives its duration in ms (µs precision)', () => {
    const { event } = normalizeSpan(span());
    assert.equal(event.time?.toISOString(), '2024-06-10T06:13:21.250Z');
    assert.equal((event.data as { durationMs: number }).durationMs, 1250.5);
  });

  it('gives an ended span without a start a null duration and an open span without a start no time', () => {
    assert.equal(data(span({ startTimeUnixNano: null })).durationMs, null);
    assert.equal(normalizeSpan(span({ startTimeUnixNano: null, endTimeUnixNano: null })).event.time, undefined);
  });

  it('keys the start and the end of one span apart, and a resent span the same (retries are no-ops)', () => {
    const open = normalizeSpan(span({ endTimeUnixNano: null })).event.dedupeKey;
    const ended = normalizeSpan(span()).event.dedupeKey;
    assert.equal(open, `span:${TRACE}:eee19b7ec3c1b174:start`);
    assert.equal(ended, `span:${TRACE}:eee19b7ec3c1b174:end`);
    // A retry carries the same ids; even changed attributes do not make it a new event.
    assert.equal(normalizeSpan(span({ attributes: { 'output.value': 'changed' } })).event.dedupeKey, ended);
    assert.notEqual(normalizeSpan(span({ spanId: 'eee19b7ec3c1b175' })).event.dedupeKey, ended);
  });

  it('marks an error status with its message, or "error", and keeps the raw span', () => {
    const failed = span({ name: 'tool.get_weather', status: { code: 2, message: 'timeout after 30s' } });
    assert.equal(data(failed).error, 'timeout after 30s');
    assert.equal(data(span({ status: { code: 2, message: null } })).error, 'error');
    assert.equal('error' in data(span({ status: { code: 1, message: 'ok' } })), false);
    assert.deepEqual(data(failed).span, failed);
  });

  it('copies trace correlation and marks the source', () => {
    const { event } = normalizeSpan(span({ parentSpanId: null }));
    assert.equal(event.source, 'otlp');
    assert.equal(event.traceId, TRACE);
    assert.equal(event.spanId, 'eee19b7ec3c1b174');
    assert.equal(event.parentSpanId, null);
  });
});

describe('span normalizer: sessions', () => {
  const cases: { title: string; attributes?: Attributes; resource?: Attributes; session: string | null }[] = [
    { title: 'ark.session.id', attributes: { 'ark.session.id': 'sess-ark', 'session.id': 'sess-otel', 'gen_ai.conversation.id': 'conv' }, session: 'sess-ark' },
    { title: 'session.id when no ark.session.id', attributes: { 'session.id': 'sess-otel', 'gen_ai.conversation.id': 'conv' }, session: 'sess-otel' },
    { title: 'gen_ai.conversation.id last', attributes: { 'gen_ai.conversation.id': 'conv-7' }, session: 'conv-7' },
    { title: 'an empty attribute is skipped', attributes: { 'ark.session.id': '', 'session.id': 'sess-otel' }, session: 'sess-otel' },
    { title: 'the resource when the span names none', resource: { 'service.name': 'x', 'ark.session.id': 'sess-res' }, session: 'sess-res' },
    {
      title: "the span's own attributes before the resource, whatever the key",
      attributes: { 'gen_ai.conversation.id': 'conv-span' },
      resource: { 'ark.session.id': 'sess-res' },
      session: 'conv-span',
    },
    { title: 'a number as its text', attributes: { 'session.id': 42 }, session: '42' },
    // The span's own attributes only; the query UID is resolveSpanSessions' fallback (below).
    { title: 'none, not the query UID', attributes: { 'query.uid': 'uid-1', 'query.name': 'weather-report' }, session: null },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const s = span({ attributes: c.attributes ?? {}, resource: c.resource ?? {} });
      assert.equal(spanSessionId(s), c.session);
      assert.equal(normalizeSpan(s).sessionId, c.session);
    });
  }

  it('resolves a span without a session from its trace: a known session, then one in the batch, else trace-<id>', () => {
    const other = 'a'.repeat(32);
    const third = 'b'.repeat(32);
    const batch = [
      normalizeSpan(span({ spanId: '0000000000000001', attributes: {} })),
      normalizeSpan(span({ spanId: '0000000000000002', attributes: { 'ark.session.id': 'sess-batch' } })),
      normalizeSpan(span({ traceId: other, spanId: '0000000000000003' })),
      normalizeSpan(span({ traceId: other, spanId: '0000000000000004', attributes: { 'ark.session.id': 'sess-own' } })),
      normalizeSpan(span({ traceId: third, spanId: '0000000000000005' })),
    ];
    assert.deepEqual(resolveSpanSessions(batch, new Map()), ['sess-batch', 'sess-batch', 'sess-own', 'sess-own', `trace-${third}`]);
    // A session stored earlier for the trace wins over one first seen in this batch; a span's own always wins.
    assert.deepEqual(resolveSpanSessions(batch, new Map([[TRACE, 'sess-stored']])), ['sess-stored', 'sess-batch', 'sess-own', 'sess-own', `trace-${third}`]);
  });

  it('falls back to the query UID (DESIGN §5: session attributes, else the query UID) before trace-<id>', () => {
    const [withUid, sibling, sessioned] = ['c'.repeat(32), 'd'.repeat(32), 'e'.repeat(32)];
    const batch = [
      normalizeSpan(span({ traceId: withUid, spanId: '0000000000000001', attributes: { 'query.uid': 'uid-7', 'query.name': 'q' } })),
      // A span of the same trace without the UID gets it from its sibling.
      normalizeSpan(span({ traceId: withUid, spanId: '0000000000000002', attributes: {} })),
      // A session named by the trace wins over the UID.
      normalizeSpan(span({ traceId: sessioned, spanId: '0000000000000003', attributes: { 'query.uid': 'uid-8' } })),
      normalizeSpan(span({ traceId: sessioned, spanId: '0000000000000004', attributes: { 'ark.session.id': 'sess-8' } })),
      normalizeSpan(span({ traceId: sibling, spanId: '0000000000000005', attributes: {} })),
    ];
    assert.deepEqual(resolveSpanSessions(batch, new Map()), ['uid-7', 'uid-7', 'sess-8', 'sess-8', `trace-${sibling}`]);
  });
});

describe('span normalizer: correlation', () => {
  it('reads query identity, namespace and user from Ark attributes, then the resource', () => {
    const { event } = normalizeSpan(
      span({
        name: 'tool.get_weather',
        attributes: { 'query.name': 'weather-report', 'query.namespace': 'team-a', 'query.uid': 'uid-1', 'user.id': 'alice' },
        resource: { 'k8s.namespace.name': 'ignored', 'user.id': 'ignored' },
      }),
    );
    assert.equal(event.queryName, 'weather-report');
    assert.equal(event.queryId, 'uid-1');
    assert.equal(event.namespace, 'team-a');
    assert.equal(event.userId, 'alice');
  });

  const cases: { title: string; name?: string; attributes?: Attributes; resource?: Attributes; expect: Record<string, string | null> }[] = [
    { title: 'query.id', attributes: { 'query.id': 'uid-2' }, expect: { queryId: 'uid-2' } },
    { title: 'ark.query.uid', attributes: { 'ark.query.uid': 'uid-3' }, expect: { queryId: 'uid-3' } },
    { title: 'no UID', attributes: { 'query.name': 'q' }, expect: { queryId: null } },
    { title: 'query name from a query span name', name: 'query.from-name', expect: { queryName: 'from-name' } },
    { title: 'query.name over the span name', name: 'query.from-name', attributes: { 'query.name': 'from-attr' }, expect: { queryName: 'from-attr' } },
    { title: 'no query name for a child span without query.name', name: 'llm.gpt-4o', expect: { queryName: null } },
    { title: 'k8s.namespace.name attribute', attributes: { 'k8s.namespace.name': 'ns-attr' }, expect: { namespace: 'ns-attr' } },
    { title: 'k8s.namespace.name of the resource', resource: { 'k8s.namespace.name': 'ns-res' }, expect: { namespace: 'ns-res' } },
    { title: 'enduser.id', attributes: { 'enduser.id': 'bob' }, expect: { userId: 'bob' } },
    { title: 'user.id of the resource', resource: { 'user.id': 'carol' }, expect: { userId: 'carol' } },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const { event } = normalizeSpan(span({ name: c.name ?? 'tool.get_weather', attributes: c.attributes ?? {}, resource: c.resource ?? {} }));
      for (const [field, value] of Object.entries(c.expect)) assert.equal(event[field as keyof typeof event], value, field);
    });
  }
});

describe('span normalizer: family data', () => {
  it('tool spans: tool.name, tool.type, tool.id, tool.input/output as text, mcp.session.id', () => {
    const d = data(
      span({
        name: 'tool.get_weather',
        attributes: {
          'tool.name': 'get_weather',
          'tool.type': 'mcp',
          'tool.id': 'call_abc123',
          'tool.input': '{"location":"Paris"}',
          'tool.output': '18°C, cloudy',
          'mcp.session.id': 'mcp-session-9',
        },
      }),
    );
    assert.deepEqual(
      { ...d, span: undefined },
      {
        name: 'tool.get_weather',
        toolName: 'get_weather',
        toolType: 'mcp',
        toolId: 'call_abc123',
        parameters: '{"location":"Paris"}',
        result: '18°C, cloudy',
        mcpSessionId: 'mcp-session-9',
        durationMs: 1250.5,
        span: undefined,
      },
    );
  });

  const toolCases: { title: string; attributes: Attributes; expect: Record<string, unknown> }[] = [
    { title: 'the span name when tool.name is missing', attributes: {}, expect: { toolName: 'get_weather', toolType: null, toolId: null, mcpSessionId: null } },
    { title: 'tool.call.id as the tool id', attributes: { 'tool.call.id': 'call_2' }, expect: { toolId: 'call_2' } },
    { title: 'gen_ai.tool.call.id as the tool id', attributes: { 'gen_ai.tool.call.id': 'call_3' }, expect: { toolId: 'call_3' } },
    { title: 'tool.id first', attributes: { 'tool.id': 'call_1', 'tool.call.id': 'call_2' }, expect: { toolId: 'call_1' } },
    {
      title: 'input.value/output.value when no tool.input/output',
      attributes: { 'input.value': 'in', 'output.value': 'out' },
      expect: { parameters: 'in', result: 'out' },
    },
    { title: 'structured input as JSON text', attributes: { 'tool.input': { location: 'Paris' } }, expect: { parameters: '{"location":"Paris"}' } },
    { title: 'no input: null', attributes: {}, expect: { parameters: null, result: null } },
  ];
  for (const c of toolCases) {
    it(`tool spans: ${c.title}`, () => {
      const d = data(span({ name: 'tool.get_weather', attributes: c.attributes }));
      for (const [field, value] of Object.entries(c.expect)) assert.deepEqual(d[field], value, field);
    });
  }

  it('LLM spans: model, provider, input/output and usage tokens', () => {
    const d = data(
      span({
        name: 'llm.gpt-4o',
        attributes: {
          'llm.model.name': 'gpt-4o-2024-08-06',
          'llm.provider': 'openai',
          'input.value': '[{"role":"user","content":"hi"}]',
          'output.value': 'hello',
          'gen_ai.usage.input_tokens': 12,
          'gen_ai.usage.output_tokens': '5',
          'gen_ai.usage.total_tokens': 17,
        },
      }),
    );
    assert.equal(d.model, 'gpt-4o-2024-08-06');
    assert.equal(d.modelType, 'openai');
    assert.equal(d.input, '[{"role":"user","content":"hi"}]');
    assert.equal(d.output, 'hello');
    assert.deepEqual(d.tokens, { input: 12, output: 5, total: 17 });
  });

  const llmCases: { title: string; attributes: Attributes; expect: Record<string, unknown> }[] = [
    { title: 'the span name as the model', attributes: {}, expect: { model: 'gpt-4o', modelType: null } },
    {
      title: 'gen_ai.request.model and gen_ai.system',
      attributes: { 'gen_ai.request.model': 'claude', 'gen_ai.system': 'anthropic' },
      expect: { model: 'claude', modelType: 'anthropic' },
    },
    { title: 'gen_ai.response.model', attributes: { 'gen_ai.response.model': 'gpt-4o-mini' }, expect: { model: 'gpt-4o-mini' } },
    {
      title: 'OpenAI-style prompt/completion token names',
      attributes: { 'gen_ai.usage.prompt_tokens': 3, 'gen_ai.usage.completion_tokens': 4 },
      expect: { tokens: { input: 3, output: 4, total: null } },
    },
    {
      title: 'OpenInference token names',
      attributes: { 'llm.token_count.prompt': 7, 'llm.token_count.completion': 8, 'llm.token_count.total': 15 },
      expect: { tokens: { input: 7, output: 8, total: 15 } },
    },
    { title: 'no token attribute: no tokens field', attributes: {}, expect: { tokens: undefined } },
    { title: 'a token count that is not a number: none', attributes: { 'gen_ai.usage.input_tokens': 'many' }, expect: { tokens: undefined } },
    {
      title: 'a count that is not a number gives way to the next name',
      attributes: { 'gen_ai.usage.input_tokens': 'many', 'gen_ai.usage.prompt_tokens': 6, 'gen_ai.usage.output_tokens': 2 },
      expect: { tokens: { input: 6, output: 2, total: null } },
    },
  ];
  for (const c of llmCases) {
    it(`LLM spans: ${c.title}`, () => {
      const d = data(span({ name: 'llm.gpt-4o', attributes: c.attributes }));
      for (const [field, value] of Object.entries(c.expect)) assert.deepEqual(d[field], value, field);
    });
  }

  it('query spans: name, target, input/output, tokens', () => {
    const d = data(
      span({
        attributes: {
          'query.name': 'weather-report',
          'query.target': 'agent/weather-agent',
          'input.value': 'Weather in Paris?',
          'output.value': 'Cloudy.',
          'gen_ai.usage.total_tokens': 40,
        },
      }),
    );
    assert.equal(d.query, 'weather-report');
    assert.equal(d.target, 'agent/weather-agent');
    assert.equal(d.input, 'Weather in Paris?');
    assert.equal(d.output, 'Cloudy.');
    assert.deepEqual(d.tokens, { input: null, output: null, total: 40 });
    assert.equal(data(span({ attributes: { 'target.name': 'model/gpt' } })).target, 'model/gpt');
    assert.equal(data(span()).query, 'weather-report');
  });

  it('agent, team and turn spans: their subject, agents and teams named as the operation events name them', () => {
    assert.deepEqual(
      { ...data(span({ name: 'agent.default/weather-agent', attributes: { 'input.value': 'q' } })), span: undefined, durationMs: undefined },
      { name: 'agent.default/weather-agent', agent: 'weather-agent', input: 'q', output: null, span: undefined, durationMs: undefined },
    );
    assert.equal(data(span({ name: 'agent.default/weather-agent', attributes: { 'agent.name': 'forecaster' } })).agent, 'forecaster');
    assert.equal(data(span({ name: 'team.research-team' })).team, 'research-team');
    const turn = data(span({ name: 'turn.3', attributes: { 'team.name': 'research-team' } }));
    assert.equal(turn.turn, '3');
    assert.equal(turn.team, 'research-team');
  });

  it('unmapped spans keep only their name, duration and the raw span', () => {
    assert.deepEqual(Object.keys(data(span({ name: 'HTTP POST' }))).sort(), ['durationMs', 'name', 'span']);
    assert.deepEqual(Object.keys(data(span({ name: 'HTTP POST', endTimeUnixNano: null }))).sort(), ['name', 'span']);
  });
});
