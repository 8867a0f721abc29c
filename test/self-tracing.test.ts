import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createPool } from '#ark/database';
import { spawnBroker, type BrokerProcess } from './support/broker-process.js';
import { eventually } from './support/eventually.js';
import { sleep } from './support/sse-client.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';

interface StoredSpan {
  name: string;
  span_id: string;
  parent_span_id: string | null;
  service: string;
}

async function spansOf(sql: pg.Pool, traceId?: string): Promise<StoredSpan[]> {
  const { rows } = await sql.query<StoredSpan>(
    // The SDK exports spans once, when they end: one otlp event per span.
    `SELECT data->'span'->>'name' AS name, span_id, parent_span_id, data->'span'->'resource'->>'service.name' AS service
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
      (s) => s.length >= 2,
    );
    const request = spans.find((s) => s.name === 'POST /v2/events');
    const append = spans.find((s) => s.name === 'append events');
    assert.ok(request && append, JSON.stringify(spans));
    assert.equal(request.parent_span_id, callerSpan);
    assert.equal(append.parent_span_id, request.span_id);
    assert.equal(request.service, 'broker-under-test');
    // The probes are not traced.
    await fetch(`${traced.url}/readyz`);
    await sleep(600);
    assert.equal((await spansOf(receiver.sql)).filter((s) => s.name.includes('/readyz')).length, 0);
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
      assert.equal(later.length, 5);
    } finally {
      await own.end();
    }
  });
});
