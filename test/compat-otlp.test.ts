import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import { OTLPTraceExporter as OtlpHttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { encodeTraceRequest } from '#ark/otlp';
import { fixtureJson, fixtureText } from './support/fixtures.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

/** Runs one simulated Ark query (query → agent → llm → tool spans) through an official exporter. */
async function exportArkQuery(exporter: SpanExporter, sessionId: string): Promise<void> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'ark-controller' }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 10 })],
  });
  const tracer = provider.getTracer('ark/controller', '0.1.0');
  const common = { 'ark.session.id': sessionId, 'query.name': 'weather-query', 'query.namespace': 'default' };
  const query = tracer.startSpan('query.weather-query', { attributes: { ...common, 'input.value': 'weather in Paris?' } });
  const ctx = (await import('@opentelemetry/api')).trace.setSpan((await import('@opentelemetry/api')).context.active(), query);
  const agent = tracer.startSpan('agent.default/weather-agent', { attributes: common }, ctx);
  const llm = tracer.startSpan(
    'llm.gpt-4o',
    { attributes: { ...common, 'llm.model.name': 'gpt-4o', 'gen_ai.usage.input_tokens': 12, 'gen_ai.usage.output_tokens': 34 } },
    ctx,
  );
  llm.end();
  const tool = tracer.startSpan(
    'tool.get-weather',
    {
      attributes: {
        ...common,
        'tool.name': 'get-weather',
        'tool.type': 'mcp',
        'tool.id': 'call-1',
        'tool.input': '{"city":"Paris"}',
        'tool.output': 'sunny',
        'mcp.session.id': 'mcp-9',
      },
    },
    ctx,
  );
  tool.end();
  agent.end();
  query.setAttribute('output.value', 'It is sunny.');
  query.end();
  await provider.forceFlush();
  await provider.shutdown();
}

async function post(url: string, body: Buffer | string, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers, body });
  const buffer = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, buffer, json: () => JSON.parse(buffer.toString()) };
}

const count = async (broker: TestBroker, where = "source = 'otlp'") =>
  (await broker.sql.query(`SELECT count(*)::int AS n FROM events WHERE ${where}`)).rows[0].n as number;

describe('OTLP ingest (POST /v1/traces)', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ BODY_LIMIT_BYTES: String(12 * 1024 * 1024) });
  });
  after(() => broker.close());

  for (const [label, make] of [
    ['protobuf', (url: string) => new OtlpProtoExporter({ url })],
    ['JSON', (url: string) => new OtlpHttpJsonExporter({ url })],
  ] as const) {
    it(`turns an Ark query exported by the official ${label} exporter into ark events and traces`, async () => {
      const sessionId = `otel-${label}`;
      await exportArkQuery(make(`${broker.url}/v1/traces`), sessionId);
      const events = (await getJson(`${broker.url}/v2/sessions/${sessionId}/events`)).body.items;
      assert.deepEqual(events.map((e: { type: string }) => e.type).sort(), ['agent.completed', 'llm.call.completed', 'query.completed', 'tool.call.completed']);
      const byType = Object.fromEntries(events.map((e: any) => [e.type, e]));
      assert.equal(byType['tool.call.completed'].data.toolName, 'get-weather');
      assert.equal(byType['tool.call.completed'].data.toolType, 'mcp');
      assert.equal(byType['tool.call.completed'].data.toolId, 'call-1');
      assert.equal(byType['tool.call.completed'].data.parameters, '{"city":"Paris"}');
      assert.equal(byType['tool.call.completed'].data.result, 'sunny');
      assert.equal(byType['tool.call.completed'].data.mcpSessionId, 'mcp-9');
      assert.equal(byType['llm.call.completed'].data.model, 'gpt-4o');
      assert.deepEqual(byType['llm.call.completed'].data.tokens, { input: 12, output: 34, total: null });
      assert.equal(byType['query.completed'].queryName, 'weather-query');
      assert.equal(byType['query.completed'].namespace, 'default');
      assert.equal(byType['query.completed'].data.output, 'It is sunny.');
      assert.match(byType['query.completed'].traceId, /^[0-9a-f]{32}$/);
      assert.equal(byType['tool.call.completed'].parentSpanId, byType['query.completed'].spanId);

      const traces = await getJson(`${broker.url}/traces?session_id=${sessionId}`);
      assert.equal(traces.status, 200);
      assert.equal(traces.body.items.length, 1);
      const trace = traces.body.items[0];
      assert.equal(trace.spans.length, 4);
      const toolSpan = trace.spans.find((s: any) => s.name === 'tool.get-weather');
      assert.deepEqual(
        toolSpan.attributes.find((a: any) => a.key === 'tool.name'),
        { key: 'tool.name', value: { stringValue: 'get-weather' } },
      );
      assert.equal(toolSpan.resource['service.name'], 'ark-controller');
      const one = await getJson(`${broker.url}/traces/${trace.traceId}`);
      assert.equal(one.body.traceId, trace.traceId);
      assert.equal(one.body.spans.length, 4);
    });
  }

  it('answers protobuf requests in protobuf and stores a retried export once', async () => {
    const request = {
      resource_spans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { string_value: 'ark-controller' } }] },
          scope_spans: [
            {
              spans: [1, 2, 3].map((i) => ({
                trace_id: Buffer.alloc(16, 7),
                span_id: Buffer.alloc(8, i),
                name: `tool.t${i}`,
                kind: 1,
                start_time_unix_nano: 1_700_000_000_000_000_000n.toString(),
                end_time_unix_nano: (1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n).toString(),
                attributes: [{ key: 'ark.session.id', value: { string_value: 'retry-session' } }],
              })),
            },
          ],
        },
      ],
    };
    const body = Buffer.from(encodeTraceRequest(request));
    const first = await post(`${broker.url}/v1/traces`, body, { 'content-type': 'application/x-protobuf' });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('content-type'), 'application/x-protobuf');
    assert.equal(first.buffer.length, 0, 'full success is an empty ExportTraceServiceResponse');
    const stored = await count(broker, "session_id = 'retry-session'");
    const again = await post(`${broker.url}/v1/traces`, gzipSync(body), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    assert.equal(again.status, 200);
    assert.equal(stored, 3);
    assert.equal(await count(broker, "session_id = 'retry-session'"), 3, 'a retried export changes nothing');
    const events = (await getJson(`${broker.url}/v2/sessions/retry-session/events`)).body.items;
    assert.equal(events[0].traceId, '07'.repeat(16));
    assert.equal(events[0].spanId, '01'.repeat(8));
  });

  it('shows an in-progress span at once and completes it when it ends', async () => {
    const span = (end?: string) => ({
      resourceSpans: [
        {
          resource: { attributes: [] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: 'aa'.repeat(16),
                  spanId: 'bb'.repeat(8),
                  name: 'query.long-wait',
                  kind: 'SPAN_KIND_INTERNAL',
                  startTimeUnixNano: '1700000000000000000',
                  ...(end ? { endTimeUnixNano: end } : {}),
                  attributes: [
                    { key: 'ark.session.id', value: { stringValue: 'waiting' } },
                    { key: 'query.name', value: { stringValue: 'long-wait' } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    assert.equal((await postJson(`${broker.url}/v1/traces`, span())).status, 200);
    let events = (await getJson(`${broker.url}/v2/sessions/waiting/events`)).body.items;
    assert.deepEqual(
      events.map((e: any) => e.type),
      ['query.started'],
    );
    let trace = (await getJson(`${broker.url}/traces/${'aa'.repeat(16)}`)).body;
    assert.equal(trace.spans[0].endTimeUnixNano, undefined);
    assert.equal((await postJson(`${broker.url}/v1/traces`, span('1700000005000000000'))).status, 200);
    assert.equal((await postJson(`${broker.url}/v1/traces`, span())).status, 200, 'a late retry of the start');
    events = (await getJson(`${broker.url}/v2/sessions/waiting/events`)).body.items;
    assert.deepEqual(
      events.map((e: any) => e.type),
      ['query.started', 'query.completed'],
    );
    assert.equal(events[1].data.durationMs, 5000);
    trace = (await getJson(`${broker.url}/traces/${'aa'.repeat(16)}`)).body;
    assert.equal(trace.spans[0].endTimeUnixNano, '1700000005000000000', 'the end is kept');
  });

  it('replays the OTLP/JSON request fixtures and answers in the upstream shapes', async () => {
    for (const name of ['otlp-traces-request-json-1.json', 'otlp-traces-request-json-2.json', 'design-otlp-span-request-session-id.json']) {
      const res = await postJson(`${broker.url}/v1/traces`, fixtureText(name));
      assert.equal(res.status, 200, name);
      assert.deepEqual(res.body, {});
    }
    const expected = fixtureJson('broker-get-traces-response.json');
    const page = await getJson(`${broker.url}/traces?limit=2`);
    assert.deepEqual(Object.keys(page.body).sort(), Object.keys(expected).sort());
    assert.deepEqual(Object.keys(page.body.items[0]).sort(), Object.keys(expected.items[0]).sort());
    assert.equal(typeof page.body.total, 'number');
    assert.equal(typeof page.body.nextCursor, 'number');
    const next = await getJson(`${broker.url}/traces?limit=2&cursor=${page.body.nextCursor}`);
    const seen = [...page.body.items, ...next.body.items].map((t: any) => t.traceId);
    assert.equal(new Set(seen).size, seen.length, 'pages do not repeat traces');
    const opaqueTraceId: string = fixtureJson('otlp-traces-request-json-1.json').resourceSpans[0].scopeSpans[0].spans[0].traceId;
    assert.doesNotMatch(opaqueTraceId, /^[0-9a-f]{32}$/, 'the fixture uses an opaque (non-hex) test id');
    const fixtureTrace = await getJson(`${broker.url}/traces/${encodeURIComponent(opaqueTraceId)}`);
    assert.equal(fixtureTrace.status, 200, 'opaque test ids are kept as given');
    assert.equal(fixtureTrace.body.traceId, opaqueTraceId);
    const missing = await getJson(`${broker.url}/traces/no-such-trace`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'NOT_FOUND');
    // The design-era fixture's `session.id` names the session of its events.
    const designSpan = fixtureJson('design-otlp-span-request-session-id.json').resourceSpans[0].scopeSpans[0].spans[0];
    const designSession: string = designSpan.attributes.find((a: any) => a.key === 'session.id').value.stringValue;
    const designEvents = await getJson(`${broker.url}/v2/sessions/${encodeURIComponent(designSession)}/events`);
    assert.equal(designEvents.status, 200);
    assert.ok(
      designEvents.body.items.some((e: any) => e.spanId === designSpan.spanId || e.traceId === designSpan.traceId),
      `the design-era span is filed under ${designSession}`,
    );
  });

  it('streams spans live on GET /traces?watch=true with ids', async () => {
    const watcher = new RecordingEventSource(`${broker.url}/traces?watch=true&session_id=live`);
    await watcher.opened;
    await sleep(100);
    await postJson(`${broker.url}/v1/traces`, {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: 'cc'.repeat(16),
                  spanId: 'dd'.repeat(8),
                  name: 'llm.chat',
                  startTimeUnixNano: '1',
                  endTimeUnixNano: '2',
                  attributes: [{ key: 'ark.session.id', value: { stringValue: 'live' } }],
                },
              ],
            },
          ],
        },
      ],
    });
    const [message] = await watcher.waitFor(1);
    assert.equal(message!.data.name, 'llm.chat');
    assert.equal(message!.data.traceId, 'cc'.repeat(16));
    assert.match(message!.id, /^\d+:\d+$/);
    watcher.close();
  });

  it('refuses bad input with its documented status and keeps what was stored', async () => {
    const before = await count(broker);
    const url = `${broker.url}/v1/traces`;
    const malformed = await post(url, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), { 'content-type': 'application/x-protobuf' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json().error.code, 'REQUEST_ERROR');
    const truncated = gzipSync(Buffer.from(JSON.stringify({ resourceSpans: [] }))).subarray(0, 12);
    assert.equal((await post(url, truncated, { 'content-type': 'application/json', 'content-encoding': 'gzip' })).status, 400);
    assert.equal((await post(url, '<xml/>', { 'content-type': 'application/xml' })).status, 415);
    assert.equal((await post(url, '{"resourceSpans":[]}', { 'content-type': 'application/json', 'content-encoding': 'zstd-unknown' })).status, 415);
    assert.equal((await postJson(url, { notSpans: true })).status, 400);

    // A gzip bomb: 1 GiB of zeros in about 1 MiB; cut off once the inflated body passes the limit.
    const bomb = await new Promise<Buffer>((resolve) => {
      const gzip = createGzip({ level: 9 });
      const parts: Buffer[] = [];
      gzip.on('data', (c: Buffer) => parts.push(c));
      gzip.on('end', () => resolve(Buffer.concat(parts)));
      const zeros = Buffer.alloc(1 << 20);
      for (let i = 0; i < 1024; i++) gzip.write(zeros);
      gzip.end();
    });
    const rss = process.memoryUsage().rss;
    const bombed = await post(url, bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    assert.equal(bombed.status, 413);
    assert.ok(process.memoryUsage().rss - rss < 512 * 1024 * 1024, 'the bomb was not inflated whole');

    // Huge and deeply nested attribute values are stored, bounded.
    let nested: any = { stringValue: 'bottom' };
    for (let i = 0; i < 200; i++) nested = { kvlistValue: { values: [{ key: `k${i}`, value: nested }] } };
    const big = await postJson(url, {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: 'ee'.repeat(16),
                  spanId: 'ff'.repeat(8),
                  name: 'tool.big',
                  startTimeUnixNano: '1',
                  endTimeUnixNano: '2',
                  attributes: [
                    { key: 'huge', value: { stringValue: 'x'.repeat(10 * 1024 * 1024) } },
                    { key: 'deep', value: nested },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    assert.equal(big.status, 200);
    const stored = (await getJson(`${broker.url}/traces/${'ee'.repeat(16)}`)).body.spans[0];
    const huge = stored.attributes.find((a: any) => a.key === 'huge').value.stringValue;
    assert.ok(huge.length < 70 * 1024 && huge.includes('truncated'));
    assert.match(JSON.stringify(stored.attributes), /nested too deep/);

    // A span without ids is rejected alone; the rest of the request is stored.
    const partial = await postJson(url, {
      resourceSpans: [
        {
          scopeSpans: [
            { spans: [{ name: 'no-ids' }, { traceId: '12'.repeat(16), spanId: '34'.repeat(8), name: 'fine', startTimeUnixNano: '1', endTimeUnixNano: '2' }] },
          ],
        },
      ],
    });
    assert.equal(partial.status, 200);
    assert.equal(partial.body.partialSuccess.rejectedSpans, '1');
    assert.match(partial.body.partialSuccess.errorMessage, /no-ids/);
    assert.equal((await getJson(`${broker.url}/traces/${'12'.repeat(16)}`)).status, 200);

    assert.equal((await getJson(`${broker.url}/health`)).status, 200);
    assert.ok((await count(broker)) >= before, 'nothing earlier lost');
  });

  it('DELETE /traces empties the trace store for the caller', async () => {
    assert.ok((await getJson(`${broker.url}/traces`)).body.items.length > 0);
    const res = await fetch(`${broker.url}/traces`, { method: 'DELETE' });
    assert.deepEqual(await res.json(), { status: 'success', message: 'Trace data purged' });
    assert.deepEqual((await getJson(`${broker.url}/traces`)).body, { items: [], total: 0, hasMore: false });
    await postJson(`${broker.url}/v1/traces`, {
      resourceSpans: [
        { scopeSpans: [{ spans: [{ traceId: '99'.repeat(16), spanId: '88'.repeat(8), name: 'after', startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] },
      ],
    });
    assert.deepEqual(
      (await getJson(`${broker.url}/traces`)).body.items.map((t: any) => t.traceId),
      ['99'.repeat(16)],
    );
    // A trace whose spans came before the deletion starts again with its next span.
    await postJson(`${broker.url}/v1/traces`, {
      resourceSpans: [
        { scopeSpans: [{ spans: [{ traceId: 'aa'.repeat(16), spanId: '77'.repeat(8), name: 'again', startTimeUnixNano: '3', endTimeUnixNano: '4' }] }] },
      ],
    });
    const page = (await getJson(`${broker.url}/traces`)).body;
    assert.deepEqual(
      page.items.map((t: any) => t.traceId),
      ['aa'.repeat(16), '99'.repeat(16)],
      'newest first',
    );
    assert.equal(page.total, 2);
    assert.deepEqual(
      page.items[0].spans.map((s: any) => s.name),
      ['again'],
      'the spans before the deletion stay hidden',
    );
    const second = (await getJson(`${broker.url}/traces?limit=1&cursor=${(await getJson(`${broker.url}/traces?limit=1`)).body.nextCursor}`)).body;
    assert.deepEqual(
      second.items.map((t: any) => t.traceId),
      ['99'.repeat(16)],
    );
    assert.equal(second.total, 2);
  });
});
