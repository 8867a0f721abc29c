import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createPool } from '#ark/database';
import { spawnBroker, type BrokerProcess } from './support/broker-process.js';
import { runCli } from './support/cli.js';
import { eventually } from './support/eventually.js';
import { sleep } from './support/sse-client.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';

interface StoredSpan {
  name: string;
  span_id: string;
  parent_span_id: string | null;
  service: string;
  resource: Record<string, unknown>;
  attributes: Record<string, unknown>;
}

async function spansOf(sql: pg.Pool, traceId?: string): Promise<StoredSpan[]> {
  const { rows } = await sql.query<StoredSpan>(
    // The SDK exports spans once, when they end: one otlp event per span.
    `SELECT data->'span'->>'name' AS name, span_id, parent_span_id, data->'span'->'resource'->>'service.name' AS service,
            data->'span'->'resource' AS resource, data->'span'->'attributes' AS attributes
     FROM events WHERE source = 'otlp' ${traceId ? 'AND trace_id = $1' : ''} ORDER BY global_position`,
    traceId ? [traceId] : [],
  );
  return rows;
}

describe("the broker's own tracing (OTEL_EXPORTER_OTLP_ENDPOINT)", () => {
  let receiver: TestBroker;
  let ownDatabase: TestDatabase;
  let loopDatabase: TestDatabase;
  let traced: BrokerProcess | undefined;
  let looped: BrokerProcess | undefined;
  before(async () => {
    receiver = await startTestBroker();
    ownDatabase = await createTestDatabase();
    loopDatabase = await createTestDatabase();
  });
  after(async () => {
    traced?.child.kill('SIGKILL');
    looped?.child.kill('SIGKILL');
    await receiver?.close();
    await ownDatabase?.drop();
    await loopDatabase?.drop();
  });

  it("exports request and append spans over OTLP protobuf, parented on the caller's traceparent", async () => {
    traced = await spawnBroker(ownDatabase.url, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'broker-under-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=ci,service.name=overridden-by-OTEL_SERVICE_NAME',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const response = await fetch(`${traced.url}/v2/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${callerSpan}-01` },
      body: JSON.stringify({ sessionId: 'traced', type: 'custom.x', data: {} }),
    });
    assert.equal(response.status, 201);
    const spans = await eventually(
      'the request and append spans at the receiver',
      () => spansOf(receiver.sql, traceId),
      // Both by name: the request's database spans may be exported before it ends.
      (s) => s.some((x) => x.name === 'POST /v2/events') && s.some((x) => x.name === 'append events'),
    );
    const request = spans.find((s) => s.name === 'POST /v2/events');
    const append = spans.find((s) => s.name === 'append events');
    assert.ok(request && append, JSON.stringify(spans));
    assert.equal(request.parent_span_id, callerSpan);
    assert.equal(append.parent_span_id, request.span_id);
    assert.equal(request.service, 'broker-under-test');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(request.resource['service.version'], pkg.version);
    assert.equal(request.resource['deployment.environment.name'], 'ci', 'OTEL_RESOURCE_ATTRIBUTES');

    // A read: its database calls are spans of the request (the official pg instrumentation), with the
    // statement's text and never its parameter values.
    const readTrace = randomBytes(16).toString('hex');
    const read = await fetch(`${traced.url}/v2/sessions/traced/events`, { headers: { traceparent: `00-${readTrace}-${callerSpan}-01` } });
    assert.equal(read.status, 200);
    const readSpans = await eventually(
      'the read and its database spans',
      () => spansOf(receiver.sql, readTrace),
      (s) => s.some((x) => x.name.startsWith('GET')) && s.some((x) => x.attributes['db.system.name'] === 'postgresql'),
    );
    const readSpan = readSpans.find((x) => x.name === 'GET /v2/sessions/:sessionId/events')!;
    const queries = readSpans.filter((x) => x.attributes['db.query.text']);
    assert.ok(queries.length > 0, JSON.stringify(readSpans));
    for (const query of queries) {
      assert.ok(
        readSpans.some((x) => x.span_id === query.parent_span_id),
        'a database span belongs to the request',
      );
      assert.doesNotMatch(String(query.attributes['db.query.text']), /'traced'/, 'parameters are not in the span');
    }
    assert.ok(readSpan);

    // Parent-based sampling (the default OTEL_TRACES_SAMPLER): a caller that did not sample gets no spans.
    const unsampled = randomBytes(16).toString('hex');
    assert.equal((await fetch(`${traced.url}/v2/sessions`, { headers: { traceparent: `00-${unsampled}-${callerSpan}-00` } })).status, 200);
    // The probes are not traced.
    await fetch(`${traced.url}/readyz`);
    await sleep(600);
    assert.equal((await spansOf(receiver.sql)).filter((s) => s.name.includes('/readyz')).length, 0);
    assert.deepEqual(await spansOf(receiver.sql, unsampled), [], 'an unsampled caller gets no spans');
  });

  it('exporting to its own /v1/traces does not loop: ingest creates no spans', async () => {
    looped = await spawnBroker(loopDatabase.url, (url) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_BSP_SCHEDULE_DELAY: '200' }));
    const own = createPool({ connectionString: loopDatabase.url, max: 1 }); // its 'error' listener: the database is dropped WITH (FORCE) after
    try {
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${looped.url}/v2/sessions`)).status, 200);
      await eventually(
        'its own spans, stored by itself',
        () => spansOf(own),
        (s) => s.filter((x) => x.name === 'GET /v2/sessions').length === 5,
      );
      // Several export intervals later nothing new has appeared: storing its spans made no spans.
      await sleep(1_000);
      const settled = (await spansOf(own)).length;
      await sleep(2_000);
      const later = await spansOf(own);
      assert.equal(later.length, settled, `no span growth without traffic (${settled} → ${later.length})`);
      assert.deepEqual(
        later.filter((s) => s.name.includes('/v1/traces')),
        [],
      );
      const requests = later.filter((s) => s.name === 'GET /v2/sessions');
      assert.equal(requests.length, 5);
      // Everything else is those requests' database calls: storing spans made none.
      const requestIds = new Set(requests.map((s) => s.span_id));
      for (const span of later.filter((s) => !requestIds.has(s.span_id))) {
        assert.ok(requestIds.has(span.parent_span_id ?? ''), `${span.name} is a child of a request`);
      }
    } finally {
      await own.end();
    }
  });

  it('an OTEL_TRACES_SAMPLER it does not know stops start-up with a message naming it', async () => {
    const result = await runCli(['serve'], {
      DATABASE_URL: ownDatabase.url,
      PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER: 'sometimes',
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout + result.stderr, /OTEL_TRACES_SAMPLER=sometimes: not a sampler/);
  });
});
