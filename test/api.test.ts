import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { eventually } from './support/eventually.js';
import { RecordingEventSource } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

function assertError(res: { status: number; body: any; headers: Headers }, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body?.error?.code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0);
  assert.equal(res.body.error.requestId, res.headers.get('x-request-id'));
  assert.equal(Object.keys(res.body).length, 1);
}

describe('v2 API', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ BODY_LIMIT_BYTES: String(256 * 1024) });
  });
  after(() => broker.close());

  it('echoes a caller X-Request-ID, or makes one', async () => {
    const given = await getJson(`${broker.url}/health`, { 'x-request-id': 'abc-123' });
    assert.equal(given.headers.get('x-request-id'), 'abc-123');
    const made = await getJson(`${broker.url}/health`);
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const hostile = await getJson(`${broker.url}/health`, { 'x-request-id': 'x'.repeat(500) });
    assert.notEqual(hostile.headers.get('x-request-id'), 'x'.repeat(500));
  });

  it('answers health, readiness and the OpenAPI document', async () => {
    assert.deepEqual((await getJson(`${broker.url}/health`)).body, { status: 'ok' });
    const ready = await getJson(`${broker.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.details.database.status, 'up');
    assert.equal(ready.body.details.listener.status, 'up');
    const openapi = await getJson(`${broker.url}/openapi.json`);
    assert.equal(openapi.status, 200);
    assert.ok(openapi.body.paths['/v2/events']);
    assert.ok(openapi.body.paths['/v2/sessions/{sessionId}/events']);
    const ui = await fetch(`${broker.url}/api-docs`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger/i);
  });

  it('appends one object or an array, and pages a session with types, after and limit', async () => {
    const one = await postJson(`${broker.url}/v2/events`, { sessionId: 'paged', type: 'custom.a', data: { i: 0 }, time: '2026-01-02T03:04:05.678Z' });
    assert.equal(one.status, 201);
    assert.deepEqual(one.body, { items: [{ sessionId: 'paged', sequence: 1, duplicate: false }] });
    const many = await postJson(
      `${broker.url}/v2/events`,
      Array.from({ length: 9 }, (_, i) => ({ sessionId: 'paged', type: i % 2 ? 'custom.b' : 'custom.a', data: { i: i + 1 }, queryId: 'q1' })),
    );
    assert.deepEqual(
      many.body.items.map((r: { sequence: number }) => r.sequence),
      [2, 3, 4, 5, 6, 7, 8, 9, 10],
    );

    const first = await getJson(`${broker.url}/v2/sessions/paged/events?limit=4`);
    assert.deepEqual(
      first.body.items.map((e: { sequence: number }) => e.sequence),
      [1, 2, 3, 4],
    );
    assert.equal(first.body.hasMore, true);
    assert.equal(first.body.nextCursor, '4');
    assert.equal(first.body.items[0].time, '2026-01-02T03:04:05.678Z');
    assert.equal(first.body.items[0].source, 'api');
    assert.equal(first.body.items[1].queryId, 'q1');
    const rest = await getJson(`${broker.url}/v2/sessions/paged/events?after=${first.body.nextCursor}&limit=100`);
    assert.deepEqual(
      rest.body.items.map((e: { sequence: number }) => e.sequence),
      [5, 6, 7, 8, 9, 10],
    );
    assert.equal(rest.body.hasMore, false);
    assert.equal(rest.body.nextCursor, null);
    const onlyB = await getJson(`${broker.url}/v2/sessions/paged/events?types=custom.b`);
    assert.deepEqual(
      onlyB.body.items.map((e: { data: { i: number } }) => e.data.i),
      [2, 4, 6, 8],
    );

    // The feed shows only what is below its horizon, the oldest transaction that may still commit
    // here (migrations/0051), which a concurrent transaction can hold back for a moment.
    const feed = await eventually(
      'three events below the feed horizon',
      () => getJson(`${broker.url}/v2/events?limit=3`),
      (r) => r.body.items.length === 3,
      10_000,
    );
    assert.equal(feed.body.items.length, 3);
    assert.equal(feed.body.hasMore, true);
    assert.match(feed.body.nextCursor, /^\d+:\d+$/);
  });

  it('rejects malformed JSON with 400 and the error body', async () => {
    assertError(await postJson(`${broker.url}/v2/events`, '{"sessionId": "x", '), 400, 'bad_request');
    // An empty JSON body is no body (as upstream): here that is a missing event.
    assertError(await postJson(`${broker.url}/v2/events`, ''), 400, 'validation_failed');
  });

  it('rejects unknown fields, missing fields and bad values with 400 validation_failed', async () => {
    assertError(await postJson(`${broker.url}/v2/events`, { sessionId: 's', type: 'custom.a', data: {}, extra: 1 }), 400, 'validation_failed');
    assertError(await postJson(`${broker.url}/v2/events`, { sessionId: 's', type: 'custom.a' }), 400, 'validation_failed');
    assertError(await postJson(`${broker.url}/v2/events`, { sessionId: 's', type: 'Not A Type', data: {} }), 400, 'validation_failed');
    // A producer cannot forge the broker's own tombstones or session signals.
    assertError(
      await postJson(`${broker.url}/v2/events`, { sessionId: 'sessions', type: 'records.deleted', data: { collection: 'sessions' } }),
      400,
      'validation_failed',
    );
    assertError(await postJson(`${broker.url}/v2/events`, { sessionId: 's', type: 'custom.a', data: {}, time: 'yesterday' }), 400, 'validation_failed');
    assertError(await postJson(`${broker.url}/v2/events`, []), 400, 'validation_failed');
    assertError(await postJson(`${broker.url}/v2/events`, [1, 2]), 400, 'validation_failed');
    const partlyBad = await postJson(`${broker.url}/v2/events`, [
      { sessionId: 'atomic', type: 'custom.a', data: {} },
      { sessionId: 'atomic', type: 'custom.a' },
    ]);
    assertError(partlyBad, 400, 'validation_failed');
    assert.match(partlyBad.body.error.message, /\[1\]\.data/);
    assert.equal((await getJson(`${broker.url}/v2/sessions/atomic/events`)).status, 404, 'nothing of a rejected request is stored');
    assertError(await getJson(`${broker.url}/v2/sessions/paged/events?limit=1001`), 400, 'validation_failed');
    assertError(await getJson(`${broker.url}/v2/sessions/paged/events?bogus=1`), 400, 'validation_failed');
  });

  it('answers 413 for an oversize body and 415 for another content type', async () => {
    const big = { sessionId: 's', type: 'custom.a', data: 'x'.repeat(300 * 1024) };
    assertError(await postJson(`${broker.url}/v2/events`, big), 413, 'payload_too_large');
    const res = await fetch(`${broker.url}/v2/events`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    assertError({ status: res.status, body: await res.json(), headers: res.headers }, 415, 'unsupported_media_type');
  });

  it('answers 400 invalid_cursor for bad cursors on pages and watches', async () => {
    assertError(await getJson(`${broker.url}/v2/events?after=nope`), 400, 'invalid_cursor');
    assertError(await getJson(`${broker.url}/v2/events?watch=true&cursor=12`), 400, 'invalid_cursor');
    assertError(await getJson(`${broker.url}/v2/events?watch=true`, { 'last-event-id': '1:x' }), 400, 'invalid_cursor');
    assertError(await getJson(`${broker.url}/v2/sessions/paged/events?watch=true`, { 'last-event-id': 'abc' }), 400, 'invalid_cursor');
    assertError(await getJson(`${broker.url}/v2/sessions/paged/events?after=-1`), 400, 'validation_failed');
  });

  it('answers 404 with the error body for unknown sessions and routes', async () => {
    assertError(await getJson(`${broker.url}/v2/sessions/never-seen/events`), 404, 'not_found');
    assertError(await getJson(`${broker.url}/v2/nothing-here`), 404, 'not_found');
  });

  it("answers upstream's error codes on the upstream routes (upstream 0.1.69 routes/errors.ts, error-handler.ts)", async () => {
    // zod schema failures: VALIDATION_ERROR, on bodies and queries alike.
    assertError(await postJson(`${broker.url}/events`, { data: {} }), 400, 'VALIDATION_ERROR');
    assertError(await postJson(`${broker.url}/messages`, { query_id: 'q', messages: [] }), 400, 'VALIDATION_ERROR');
    assertError(await postJson(`${broker.url}/sessions`, {}), 400, 'VALIDATION_ERROR');
    assertError(await getJson(`${broker.url}/sessions?status=busy`), 400, 'VALIDATION_ERROR');
    // parsePaginationParams: PAGINATION_ERROR with upstream's messages, on every paged list.
    for (const list of ['/events', '/events/q', '/traces', '/messages', '/stream', '/sessions']) {
      const zero = await getJson(`${broker.url}${list}?limit=0`);
      assertError(zero, 400, 'PAGINATION_ERROR');
      assert.equal(zero.body.error.message, 'limit must be a positive integer', list);
      const many = await getJson(`${broker.url}${list}?limit=1001`);
      assertError(many, 400, 'PAGINATION_ERROR');
      assert.equal(many.body.error.message, 'limit cannot exceed 1000', list);
      assert.equal((await getJson(`${broker.url}${list}?limit=10abc`)).status, 200, `${list}: limit is read with parseInt`);
    }
    // A cursor is checked by the route's schema first where it has one (VALIDATION_ERROR), else by the pagination check.
    for (const list of ['/events', '/traces', '/messages']) assertError(await getJson(`${broker.url}${list}?cursor=-1`), 400, 'VALIDATION_ERROR');
    for (const list of ['/stream', '/sessions']) assertError(await getJson(`${broker.url}${list}?cursor=-1`), 400, 'PAGINATION_ERROR');
    // Not found: route-specific and the catch-all.
    assertError(await getJson(`${broker.url}/sessions/never-seen`), 404, 'NOT_FOUND');
    assertError(await getJson(`${broker.url}/nothing-here`), 404, 'NOT_FOUND');
    // Body-parser failures are upstream's REQUEST_ERROR: bad JSON, too large, another content type.
    assertError(await postJson(`${broker.url}/events`, '{"data": '), 400, 'REQUEST_ERROR');
    assertError(await postJson(`${broker.url}/events`, { data: { queryId: 'q', big: 'x'.repeat(300 * 1024) } }), 413, 'REQUEST_ERROR');
    const xml = await fetch(`${broker.url}/messages`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    assertError({ status: xml.status, body: await xml.json(), headers: xml.headers }, 415, 'REQUEST_ERROR');
    // The same failures under /v2 keep the native codes.
    assertError(await getJson(`${broker.url}/v2/events?limit=0`), 400, 'validation_failed');
    assertError(await getJson(`${broker.url}/v2/nothing-here`), 404, 'not_found');
  });

  it('stores nothing and keeps serving when a payload cannot be stored, without hurting batch-mates', async () => {
    // PostgreSQL jsonb rejects \u0000: this request fails on its own data inside a shared batch.
    const results = await Promise.all([
      postJson(`${broker.url}/v2/events`, { sessionId: 'nul', type: 'custom.a', data: { s: 'a\u0000b' } }),
      ...Array.from({ length: 10 }, (_, i) => postJson(`${broker.url}/v2/events`, { sessionId: 'nul-mates', type: 'custom.a', data: { i } })),
    ]);
    assertError(results[0], 400, 'bad_request');
    assert.equal(results[0].body.error.message, 'the events cannot be stored: a text holds a character PostgreSQL cannot store (\\u0000)');
    assert.doesNotMatch(results[0].body.error.message, /unsupported|jsonb|escape sequence/, "PostgreSQL's own text is not passed on");
    assert.ok(results.slice(1).every((r) => r.status === 201));
    const mates = await getJson(`${broker.url}/v2/sessions/nul-mates/events`);
    assert.equal(mates.body.items.length, 10);
  });

  it('reads gzip bodies on every route, and refuses a corrupt one', async () => {
    const res = await fetch(`${broker.url}/v2/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ sessionId: 'gzipped', type: 'custom.a', data: {} })),
    });
    assert.equal(res.status, 201);
    assert.equal((await getJson(`${broker.url}/v2/sessions/gzipped/events`)).body.items.length, 1);
    const corrupt = await fetch(`${broker.url}/v2/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: Buffer.from('not gzip at all'),
    });
    assertError({ status: corrupt.status, body: await corrupt.json(), headers: corrupt.headers }, 400, 'bad_request');
  });

  it('exposes Prometheus metrics: requests per route pattern, appends, queue, watchers, pool', async () => {
    await postJson(`${broker.url}/v2/events`, [
      { sessionId: 'metered', type: 'custom.a', data: {} },
      { sessionId: 'metered', type: 'custom.a', data: {} },
    ]);
    await getJson(`${broker.url}/v2/sessions/metered/events`);
    const res = await fetch(`${broker.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(text, /ark_broker_http_requests_total\{method="GET",route="\/v2\/sessions\/:sessionId\/events",status="200"\} \d+/);
    assert.doesNotMatch(text, /route="\/v2\/sessions\/metered/, 'raw URLs never become labels');
    assert.match(text, /ark_broker_ingest_requests_total\{route="\/v2\/events",outcome="accepted"\} [1-9]/);
    assert.doesNotMatch(text, /tenant=/, 'tenant ids only with METRICS_TENANT_LABEL=true: /metrics answers anyone');
    const appended = Number(/^ark_broker_events_appended_total (\d+)/m.exec(text)?.[1]);
    assert.ok(appended >= 2);
    for (const name of [
      'ark_broker_append_batch_seconds_bucket',
      'ark_broker_write_queue_events',
      'ark_broker_watchers',
      'ark_broker_listener_connected 1',
      'ark_broker_db_pool_connections',
      // Node's defaults under their standard names, as stock dashboards read them.
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(text.includes(name), name);
    }
    assert.doesNotMatch(text, /^ark_broker_process_/m, 'no prefix on the defaults');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.match(text, new RegExp(`^ark_broker_build_info\\{version="${pkg.version.replaceAll('.', '\\.')}",node_version="${process.version}"\\} 1$`, 'm'));
  });

  it('measures notification lag and watch delivery lag', async () => {
    const counts = async () => {
      const text = await (await fetch(`${broker.url}/metrics`)).text();
      const count = (name: string) => Number(new RegExp(`^${name}_count (\\d+)`, 'm').exec(text)?.[1]);
      return { notified: count('ark_broker_notification_lag_seconds'), delivered: count('ark_broker_watch_delivery_lag_seconds') };
    };
    const before = await counts();
    const watcher = new RecordingEventSource(`${broker.url}/v2/sessions/lagged/events?watch=true`);
    try {
      await watcher.opened;
      assert.equal((await postJson(`${broker.url}/v2/events`, { sessionId: 'lagged', type: 'custom.a', data: {} })).status, 201);
      await watcher.waitFor(1);
    } finally {
      watcher.close();
    }
    // The watcher gets this replica's commit before its NOTIFY arrives (the writer hands it over).
    const after = await eventually('the notification lag observed', counts, (c) => c.notified > before.notified, 10_000);
    assert.equal(after.delivered, before.delivered + 1);
  });
});
