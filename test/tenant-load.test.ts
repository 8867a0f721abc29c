/**
 * One tenant flooding the broker at 10× its write rate limit: its excess is refused (429, before the
 * body is stored) and the other tenant is never refused. Prints the figures (latency of the quiet
 * tenant alone and during the flood) for the report; asserts only what does not depend on the
 * machine's load. The limiter protects storage, not CPU: the flood's requests are still authenticated
 * and answered, which costs the broker time on a saturated machine.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { startTestBroker, type TestBroker } from './support/test-broker.js';

const SECRET = 'tenant-load-secret-tenant-load-secret-0123';
const LIMIT = 50;
const token = (tenant: string) =>
  new SignJWT({ sub: `producer-${tenant}`, tenant, roles: ['producer'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

describe('a tenant flooding at 10× its write limit', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, RATE_LIMIT_WRITES_PER_SECOND: String(LIMIT) });
  });
  after(() => broker.close());

  async function post(bearer: string, sessionId: string, i: number): Promise<{ status: number; ms: number }> {
    const started = performance.now();
    const res = await fetch(`${broker.url}/v2/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId, type: 'custom.load', data: { i } }),
    });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - started };
  }

  /** `perSecond` requests a second for `seconds`, each on its own schedule (open loop). */
  async function paced(bearer: string, sessionId: string, perSecond: number, seconds: number) {
    const total = perSecond * seconds;
    const started = performance.now();
    return Promise.all(
      Array.from({ length: total }, async (_, i) => {
        const wait = started + (i * 1000) / perSecond - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        return post(bearer, sessionId, i);
      }),
    );
  }

  it('never refuses the other tenant and stores all it sent (latency figures printed)', async () => {
    const quiet = await token('quiet');
    const noisy = await token('noisy');
    const alone = await paced(quiet, 'alone', 20, 3);
    const [flood, during] = await Promise.all([paced(noisy, 'flood', LIMIT * 10, 3), paced(quiet, 'during', 20, 3)]);
    const ms = (answers: { ms: number }[]) => answers.map((a) => a.ms).sort((a, b) => a - b);
    const figures = {
      quietAlone: { p50: percentile(ms(alone), 50), p99: percentile(ms(alone), 99) },
      quietDuringFlood: { p50: percentile(ms(during), 50), p99: percentile(ms(during), 99) },
      flood: { sent: flood.length, accepted: flood.filter((a) => a.status === 201).length, refused429: flood.filter((a) => a.status === 429).length, p50: percentile(ms(flood), 50) },
    };
    console.log(`# tenant load: ${JSON.stringify(figures)}`);
    assert.ok(alone.every((a) => a.status === 201));
    assert.ok(during.every((a) => a.status === 201), 'the quiet tenant is never refused');
    assert.ok(figures.flood.refused429 >= flood.length / 2, 'most of the flood is refused');
    const stored = await broker.sql.query(`SELECT session_id, count(*)::int AS n FROM events WHERE tenant_id = 'quiet' GROUP BY session_id ORDER BY session_id`);
    assert.deepEqual(stored.rows, [{ session_id: 'alone', n: 60 }, { session_id: 'during', n: 60 }]);
  });
});
