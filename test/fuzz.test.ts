/**
 * Property-based fuzzing (fast-check) of what producers send: the OTLP JSON and protobuf decoders,
 * the NDJSON chunk splitter, and the HTTP routes in front of them. Nothing may crash or hang, and
 * every answer is a documented status with the error envelope. Bounded in time (see TIME_LIMIT_MS).
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeTraceRequest, OtlpDecodeError, OtlpTraceDecoder } from '#ark/otlp';
import { NdjsonLineSplitter, OVERLONG_LINE } from '../apps/broker/src/compat/stream/ndjson-line-splitter.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';

/** Each property stops after this long (fast-check's interruptAfterTimeLimit), whatever numRuns says. */
const TIME_LIMIT_MS = 8_000;
/** One decode may take at most this long: a hang shows as a failure, not a stuck suite. */
const DECODE_BUDGET_MS = 500;

const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.record({ stringValue: fc.string() }),
    fc.record({ intValue: fc.oneof(fc.bigInt().map(String), fc.integer(), fc.string()) }),
    fc.record({ doubleValue: fc.oneof(fc.double(), fc.string()) }),
    fc.record({ boolValue: fc.oneof(fc.boolean(), fc.string()) }),
    fc.record({ bytesValue: fc.base64String() }),
    fc.record({ arrayValue: fc.record({ values: fc.array(tie('value'), { maxLength: 4 }) }) }),
    fc.record({ kvlistValue: fc.record({ values: fc.array(fc.record({ key: fc.string(), value: tie('value') }), { maxLength: 4 }) }) }),
    fc.jsonValue(),
  ),
})).value;

const idLike = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 40 }),
  fc.base64String(),
  fc.string(),
  fc.integer(),
  fc.constant(null),
);

/** OTLP-shaped JSON with every field of a random type, plus arbitrary JSON. */
const otlpJson = fc.oneof(
  fc.jsonValue(),
  fc.record(
    {
      resourceSpans: fc.array(
        fc.record(
          {
            resource: fc.record(
              { attributes: fc.array(fc.record({ key: fc.oneof(fc.string(), fc.integer()), value: anyValue }), { maxLength: 4 }) },
              { requiredKeys: [] },
            ),
            scopeSpans: fc.oneof(
              fc.jsonValue(),
              fc.array(
                fc.record(
                  {
                    scope: fc.jsonValue(),
                    spans: fc.array(
                      fc.record(
                        {
                          traceId: idLike,
                          spanId: idLike,
                          parentSpanId: idLike,
                          name: fc.oneof(fc.string(), fc.jsonValue()),
                          kind: fc.oneof(fc.integer(), fc.string()),
                          startTimeUnixNano: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String), fc.string(), fc.integer()),
                          endTimeUnixNano: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String), fc.string(), fc.double()),
                          attributes: fc.oneof(fc.array(fc.record({ key: fc.string(), value: anyValue }), { maxLength: 6 }), fc.jsonValue()),
                          events: fc.jsonValue(),
                          links: fc.jsonValue(),
                          status: fc.oneof(fc.record({ code: fc.oneof(fc.integer(), fc.string()), message: fc.jsonValue() }), fc.jsonValue()),
                        },
                        { requiredKeys: [] },
                      ),
                      { maxLength: 5 },
                    ),
                  },
                  { requiredKeys: [] },
                ),
                { maxLength: 3 },
              ),
            ),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 3 },
      ),
    },
    { requiredKeys: [] },
  ),
);

/** A valid protobuf export, then truncated, bit-flipped or spliced with random bytes. */
const validProtobuf = fc
  .record({
    traceId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    spanId: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    name: fc.string(),
    value: fc.string(),
  })
  .map(({ traceId, spanId, name, value }) =>
    encodeTraceRequest({
      resource_spans: [
        {
          scope_spans: [
            { spans: [{ trace_id: traceId, span_id: spanId, name, start_time_unix_nano: '1', attributes: [{ key: 'k', value: { string_value: value } }] }] },
          ],
        },
      ],
    }),
  );
const protobufBytes = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.tuple(validProtobuf, fc.nat(), fc.nat({ max: 255 })).map(([bytes, at, bits]) => {
    const copy = Uint8Array.from(bytes);
    if (copy.length > 0) copy[at % copy.length] = copy[at % copy.length]! ^ bits;
    return copy;
  }),
  fc.tuple(validProtobuf, fc.nat()).map(([bytes, at]) => bytes.subarray(0, bytes.length === 0 ? 0 : at % bytes.length)),
  fc.tuple(validProtobuf, fc.uint8Array({ maxLength: 64 }), fc.nat()).map(([bytes, junk, at]) => {
    const cut = bytes.length === 0 ? 0 : at % bytes.length;
    return Buffer.concat([bytes.subarray(0, cut), junk, bytes.subarray(cut)]);
  }),
);

/** Decoding either succeeds or fails with the errors the route turns into 400. */
function decodesOrRefuses(decode: () => unknown): void {
  const started = performance.now();
  try {
    decode();
  } catch (error) {
    if (!(error instanceof OtlpDecodeError || error instanceof RangeError)) throw error;
  }
  const took = performance.now() - started;
  assert.ok(took < DECODE_BUDGET_MS, `a decode took ${took.toFixed(0)} ms`);
}

const limits = { interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false };

describe('fuzz: decoders and the chunk splitter', () => {
  const decoder = new OtlpTraceDecoder();

  it('OTLP JSON: any JSON decodes or is refused as undecodable', () => {
    fc.assert(
      fc.property(otlpJson, (body) => decodesOrRefuses(() => decoder.fromJson(body))),
      { numRuns: 3_000, ...limits },
    );
  });

  it('OTLP protobuf: any bytes decode or are refused as undecodable', () => {
    fc.assert(
      fc.property(protobufBytes, (bytes) => decodesOrRefuses(() => decoder.fromProtobuf(bytes))),
      { numRuns: 3_000, ...limits },
    );
  });

  it('NDJSON: lines do not depend on how the body is cut, and none exceeds the limit', () => {
    const body = fc
      .array(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.constant('\n'),
          fc.constant('\r\n'),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        { maxLength: 30 },
      )
      .map((parts) => Buffer.from(parts.join('')));
    fc.assert(
      fc.property(body, fc.array(fc.nat(), { maxLength: 10 }), fc.integer({ min: 1, max: 64 }), (bytes, cuts, maxLineBytes) => {
        const whole = new NdjsonLineSplitter(maxLineBytes);
        const expected = [...whole.push(bytes), ...whole.end()];
        const pieces = new NdjsonLineSplitter(maxLineBytes);
        const got: (string | typeof OVERLONG_LINE)[] = [];
        let at = 0;
        for (const cut of [...cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length))].sort((a, b) => a - b)) {
          got.push(...pieces.push(bytes.subarray(at, cut)));
          at = cut;
        }
        got.push(...pieces.push(bytes.subarray(at)), ...pieces.end());
        assert.deepEqual(got, expected);
        for (const line of got) if (line !== OVERLONG_LINE) assert.ok(Buffer.byteLength(line) <= maxLineBytes);
      }),
      { numRuns: 2_000, ...limits },
    );
  });
});

describe('fuzz: ingest routes over HTTP', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ BODY_LIMIT_BYTES: String(64 * 1024), RATE_LIMIT_WRITES_PER_SECOND: '0' });
  });
  after(() => broker.close());

  async function send(path: string, body: Uint8Array, contentType: string, gzip: boolean): Promise<{ status: number; body: string }> {
    const res = await fetch(`${broker.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType, ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
      body: gzip ? gzipSync(body) : body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.text() };
  }

  function documented(answer: { status: number; body: string }, allowed: number[]): void {
    assert.ok(allowed.includes(answer.status), `status ${answer.status}: ${answer.body.slice(0, 200)}`);
    if (answer.status >= 400) {
      const error = (JSON.parse(answer.body) as { error: { code: string; message: string; requestId: string } }).error;
      assert.equal(typeof error.code, 'string');
      assert.equal(typeof error.requestId, 'string');
      assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in the error body');
    }
  }

  it('POST /v1/traces answers 200, 400, 413 or 415 to anything', async () => {
    const contentTypes = fc.constantFrom('application/json', 'application/x-protobuf', 'application/protobuf', 'text/plain', 'application/json; charset=utf-8');
    const payload = fc.oneof(
      otlpJson.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      protobufBytes,
      fc.string({ unit: 'binary' }).map((s) => Buffer.from(s)),
    );
    await fc.assert(
      fc.asyncProperty(payload, contentTypes, fc.boolean(), async (body, contentType, gzip) => {
        documented(await send('/v1/traces', body, contentType, gzip), [200, 400, 413, 415]);
      }),
      { numRuns: 150, ...limits },
    );
  });

  it('POST /stream/:query answers 200, 400 or 413 to any body', async () => {
    const lines = fc.array(
      fc.oneof(
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.string({ unit: 'binary' }),
        fc.constant(''),
      ),
      { maxLength: 20 },
    );
    await fc.assert(
      fc.asyncProperty(lines, fc.constantFrom('application/x-ndjson', 'application/json', 'text/plain'), fc.boolean(), async (parts, contentType, gzip) => {
        documented(await send(`/stream/fuzz-${Math.random().toString(36).slice(2)}`, Buffer.from(parts.join('\n')), contentType, gzip), [200, 400, 413]);
      }),
      { numRuns: 100, ...limits },
    );
  });

  it('POST /events and /v2/events answer 201 or 400 to any JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.constantFrom('/events', '/v2/events', '/messages', '/sessions'), async (value, path) => {
        documented(await send(path, Buffer.from(JSON.stringify(value) ?? 'null'), 'application/json', false), [200, 201, 400]);
      }),
      { numRuns: 200, ...limits },
    );
    assert.equal((await fetch(`${broker.url}/health`)).status, 200);
  });
});

describe('fuzz: every route of the OpenAPI document (paths, queries, headers, bodies)', () => {
  let broker: TestBroker;
  let routes: { method: string; path: string }[] = [];
  /** Rows written before the run, under ids no fuzzed request names (segments never hold them). */
  const seededCounts = async () =>
    (
      await broker.sql.query<{ events: number; messages: number; sessions: number }>(
        `SELECT (SELECT count(*)::int FROM events WHERE session_id = 'seeded-7f3a' AND data = '{"n": 1}') AS events,
                (SELECT count(*)::int FROM messages WHERE conversation_id = 'seeded-7f3a-conversation') AS messages,
                (SELECT count(*)::int FROM sessions WHERE session_id = 'seeded-7f3a') AS sessions`,
      )
    ).rows[0]!;
  let seeded: { events: number; messages: number; sessions: number };
  before(async () => {
    // Purge-all DELETEs off (the chart's default): a fuzzed DELETE may only hit what it names.
    broker = await startTestBroker({ BODY_LIMIT_BYTES: String(64 * 1024), ALLOW_PURGE_ALL: 'false' });
    const post = (path: string, body: unknown) =>
      fetch(`${broker.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/v2/events', [{ sessionId: 'seeded-7f3a', type: 'custom.kept', data: { n: 1 } }])).status, 201);
    assert.equal(
      (await post('/messages', { conversation_id: 'seeded-7f3a-conversation', query_id: 'seeded-7f3a-query', messages: [{ role: 'user', content: 'kept' }] }))
        .status,
      200,
    );
    seeded = await seededCounts();
    assert.deepEqual(seeded, { events: 1, messages: 1, sessions: 1 });
    const document = (await (await fetch(`${broker.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    routes = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })));
  });
  after(() => broker.close());

  const segment = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.constantFrom('0', '-1', '99999999999999999999999', 'a'.repeat(3_000), '..', '%', '\u0000', ' '),
  );
  const queryValue = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('true', 'false', '0', '-5', '1001', '1e309', '0:0', '9:9', 'x'.repeat(5_000)));
  const queryKey = fc.oneof(
    fc.constantFrom('limit', 'cursor', 'after', 'session_id', 'status', 'search', 'sort', 'order', 'types', 'dateFrom', 'from-beginning', 'wait-for-query'),
    fc.string({ maxLength: 12 }),
  );
  const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,80}$/);
  const headers = fc.record(
    {
      'last-event-id': fc.oneof(headerValue, fc.constantFrom('0', '1:1', '-1', '99999999999999999999')),
      'x-request-id': headerValue,
      'content-type': fc.oneof(
        { weight: 6, arbitrary: fc.constant('application/json') },
        fc.constantFrom('application/x-ndjson', 'text/plain', 'application/x-protobuf', 'multipart/form-data'),
      ),
      'content-encoding': fc.oneof({ weight: 6, arbitrary: fc.constant('identity') }, fc.constantFrom('gzip', 'br', 'bogus')),
      accept: fc.constantFrom('application/json', 'text/event-stream', '*/*'),
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
    fc.string({ maxLength: 200 }),
    fc.nat({ max: 2_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  );

  it('no route answers 5xx to any path, query, header or body, and the data it did not name is intact', async () => {
    assert.ok(routes.length >= 30, `${routes.length} routes in the OpenAPI document`);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: routes.length - 1 }),
        fc.array(segment, { minLength: 4, maxLength: 4 }),
        fc.array(fc.tuple(queryKey, queryValue), { maxLength: 4 }),
        headers,
        body,
        async (index, segments, query, sent, payload) => {
          const route = routes[index]!;
          let n = 0;
          const path = route.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(segments[n++ % segments.length]!));
          const search = new URLSearchParams(query).toString();
          const hasBody = route.method !== 'GET' && route.method !== 'DELETE';
          const controller = new AbortController();
          const timer = setTimeout(() => controller.abort(), 5_000);
          try {
            const res = await fetch(`${broker.url}${path}${search ? `?${search}` : ''}`, {
              method: route.method,
              headers: hasBody ? sent : Object.fromEntries(Object.entries(sent).filter(([name]) => !name.startsWith('content-'))),
              body: hasBody ? payload : undefined,
              signal: controller.signal,
            });
            if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
              controller.abort(); // a watch stream: its status is what counts
            } else {
              const text = await res.text();
              if (res.status >= 400 && route.path !== '/v1/traces') {
                const error = (JSON.parse(text) as { error: { code: string; requestId: string } }).error;
                assert.ok(error.code && error.requestId, `${route.method} ${route.path}: ${text.slice(0, 200)}`);
              }
            }
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            if (res.status >= 500) failures.push(`${route.method} ${path.slice(0, 120)}?${search.slice(0, 80)} → ${res.status}`);
          } catch (error) {
            if ((error as Error).name !== 'AbortError') throw error;
          } finally {
            clearTimeout(timer);
          }
        },
      ),
      { numRuns: 600, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false },
    );
    console.log(`# fuzz over ${routes.length} routes: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
    assert.ok([...statuses.values()].reduce((a, b) => a + b, 0) >= 50, 'enough requests were answered');
    assert.deepEqual(failures, []);
    assert.equal((await fetch(`${broker.url}/health`)).status, 200);
    assert.deepEqual(await seededCounts(), seeded, 'earlier data is intact');
  });
});

describe('fuzz findings, kept as examples', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('answers an upload of only unparseable lines (it used to spin the event loop for ever)', async () => {
    const res = await fetch(`${broker.url}/stream/only-garbage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: 'xx',
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { chunks_received: number }).chunks_received, 0);
  });
});
