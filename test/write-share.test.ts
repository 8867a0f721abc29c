/**
 * Each tenant's fair share of the write path over HTTP: a tenant posting far more events than the
 * writer takes at once is refused with 429 + Retry-After once it holds its share, while another
 * tenant writing beside it is never refused, and everything acknowledged is stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const SECRET = 'write-share-secret-write-share-secret-0123';
const token = (tenant: string) =>
  new SignJWT({ sub: `producer-${tenant}`, tenant, roles: ['producer'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));

describe("each tenant's share of the write path", () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      APPEND_FAIR_WINDOW_EVENTS: '500',
      APPEND_TENANT_MAX_QUEUED_EVENTS: '2000',
    });
  });
  after(() => broker.close());

  it('refuses the flooding tenant past its share with 429 + Retry-After, and never the quiet one', async () => {
    const noisy = { authorization: `Bearer ${await token('noisy')}` };
    const quiet = { authorization: `Bearer ${await token('quiet')}` };
    const batch = (sessionId: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({ sessionId, type: 'custom.load', data: { i, pad: 'x'.repeat(200) } }));
    const flood = Promise.all(Array.from({ length: 24 }, () => postJson(`${broker.url}/v2/events`, batch('flood', 500), noisy)));
    const quietAnswers: { status: number; ms: number }[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const answer = await postJson(`${broker.url}/v2/events`, batch('quiet', 1), quiet);
      quietAnswers.push({ status: answer.status, ms: performance.now() - started });
    }
    const floodAnswers = await flood;

    assert.deepEqual(
      quietAnswers.map((a) => a.status),
      Array(10).fill(201),
      'the quiet tenant is never refused',
    );
    const refused = floodAnswers.filter((a) => a.status === 429);
    const accepted = floodAnswers.filter((a) => a.status === 201);
    assert.ok(refused.length > 0, 'the flood is refused past its share');
    assert.equal(accepted.length + refused.length, floodAnswers.length, `only 201 or 429: ${floodAnswers.map((a) => a.status).join(',')}`);
    assert.equal(refused[0]!.body.error.code, 'rate_limited');
    assert.match(refused[0]!.body.error.message, /share/);
    assert.equal(refused[0]!.headers.get('retry-after'), '1');

    const stored = await broker.sql.query<{ tenant_id: string; n: number }>(
      "SELECT tenant_id, count(*)::int AS n FROM events WHERE session_id IN ('flood', 'quiet') GROUP BY tenant_id ORDER BY tenant_id",
    );
    assert.deepEqual(stored.rows, [
      { tenant_id: 'noisy', n: accepted.length * 500 },
      { tenant_id: 'quiet', n: 10 },
    ]);
  });
});
