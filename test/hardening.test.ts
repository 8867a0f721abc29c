import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

describe('HTTP hardening', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ CORS_ORIGINS: 'https://dashboard.example', RATE_LIMIT_WRITES_PER_SECOND: '3' });
  });
  after(() => broker.close());

  it('sends secure headers and allows cross-origin calls only from configured origins', async () => {
    const res = await fetch(`${broker.url}/health`, { headers: { origin: 'https://dashboard.example' } });
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://dashboard.example');
    const foreign = await fetch(`${broker.url}/health`, { headers: { origin: 'https://evil.example' } });
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    const preflight = await fetch(`${broker.url}/v2/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://dashboard.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/i);
  });

  it('limits writes per tenant with 429 + Retry-After, and leaves reads alone', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => postJson(`${broker.url}/v2/events`, { sessionId: 'limited', type: 'custom.a', data: { i } })),
    );
    const limited = answers.filter((a) => a.status === 429);
    assert.ok(limited.length >= 5, `${limited.length} of 10 limited`);
    assert.ok(answers.filter((a) => a.status === 201).length >= 1);
    assert.equal(limited[0]!.body.error.code, 'rate_limited');
    assert.equal(limited[0]!.body.error.requestId, limited[0]!.headers.get('x-request-id'));
    assert.ok(Number(limited[0]!.headers.get('retry-after')) >= 0);
    const reads = await Promise.all(Array.from({ length: 10 }, () => fetch(`${broker.url}/v2/sessions/limited/events`)));
    assert.ok(reads.every((r) => r.status === 200));
  });
});
