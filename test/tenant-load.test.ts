/**
 * One tenant flooding the broker at 10× its write rate limit must not slow another tenant's ingest
 * (issue #5). The broker runs as its own process and the flood comes from a third one, so the test's
 * own client measures only the broker. The flood's excess is refused (429) after authentication and
 * before its body is read, from a cached verification of its token, and the tenant's allowance is a
 * token bucket, so what it may write arrives spread over the second, not in bursts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { spawnBroker, type BrokerProcess } from './support/broker-process.js';
import { pacedWrites, pacedWritesProcess, type PacedAnswer } from './support/paced-writer.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import pg from 'pg';

const SECRET = 'tenant-load-secret-tenant-load-secret-0123';
const LIMIT = 50;
const SECONDS = 4;
const QUIET_RATE = 40;
const token = (tenant: string) =>
  new SignJWT({ sub: `producer-${tenant}`, tenant, roles: ['producer'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const latency = (answers: PacedAnswer[]) => {
  const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
  const at = (p: number) => Math.round(percentile(ms, p) * 10) / 10;
  return { p50: at(50), p95: at(95), p99: at(99) };
};

describe('a tenant flooding at 10× its write limit', () => {
  let database: TestDatabase;
  let broker: BrokerProcess;
  before(async () => {
    database = await createTestDatabase();
    broker = await spawnBroker(database.url, { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, RATE_LIMIT_WRITES_PER_SECOND: String(LIMIT), LOG_LEVEL: 'error' });
  });
  after(async () => {
    broker.child.kill('SIGTERM');
    await broker.exited;
    await database.drop();
  });

  it('does not slow the other tenant, never refuses it and stores all it sent', async () => {
    const quiet = await token('quiet');
    const noisy = await token('noisy');
    const quietWrites = (sessionId: string) => pacedWrites({ url: broker.url, bearer: quiet, sessionId, perSecond: QUIET_RATE, seconds: SECONDS });
    await quietWrites('warm-up');
    const alone = await quietWrites('alone');
    // The baseline: the other tenant writing at exactly its limit, which it is allowed to.
    const [atLimit, besideLimit] = await Promise.all([
      pacedWritesProcess({ url: broker.url, bearer: noisy, sessionId: 'at-limit', perSecond: LIMIT, seconds: SECONDS }),
      quietWrites('beside-limit'),
    ]);
    const [flood, during] = await Promise.all([
      pacedWritesProcess({ url: broker.url, bearer: noisy, sessionId: 'flood', perSecond: LIMIT * 10, seconds: SECONDS }),
      quietWrites('during'),
    ]);
    const figures = {
      quietAlone: latency(alone),
      quietBesideLimit: latency(besideLimit),
      quietDuringFlood: latency(during),
      atLimit: { sent: atLimit.length, refused429: atLimit.filter((a) => a.status === 429).length, ...latency(atLimit) },
      flood: {
        sent: flood.length,
        accepted: flood.filter((a) => a.status === 201).length,
        refused429: flood.filter((a) => a.status === 429).length,
        ...latency(flood),
      },
    };
    console.log(`# tenant load: ${JSON.stringify(figures)}`);

    assert.ok(
      [...alone, ...besideLimit, ...during].every((a) => a.status === 201),
      'the quiet tenant is never refused',
    );
    assert.ok(
      flood.every((a) => a.status === 201 || a.status === 429),
      'the flood is answered, not failed',
    );
    assert.ok(figures.flood.refused429 >= flood.length * 0.8, 'most of the flood is refused');
    // A full bucket (one second's allowance) at the start, then the refill rate.
    assert.ok(
      figures.flood.accepted <= LIMIT * (SECONDS + 1.5),
      `${figures.flood.accepted} accepted: no more than the limit is stored for the flooding tenant`,
    );
    // "Not slowed" by the excess: beside the flood the quiet tenant's median stays near its median
    // beside the same tenant at its limit. This file runs alone (test/run-tests.ts), but CI shares
    // the machine with other work, so the bound is loose: it guards against gross regressions such
    // as stop 11's limiter (fixed windows after body parsing: a median of 136 ms against 12).
    assert.equal(broker.child.exitCode, null, `the broker outlived the flood; its output:\n${broker.output()}`);
    // A reset the broker survived is still a promise nobody awaited: show where, for the next look.
    if (/nothing awaited it/.test(broker.output())) console.log(`# broker output:\n${broker.output()}`);
    const { quietBesideLimit: base, quietDuringFlood: flooded } = figures;
    assert.ok(flooded.p50 <= base.p50 * 3 + 25, `quiet p50 ${flooded.p50} ms during the flood vs ${base.p50} beside the limit`);

    const sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    try {
      const stored = await sql.query(`SELECT session_id, count(*)::int AS n FROM events WHERE tenant_id = 'quiet' GROUP BY session_id ORDER BY session_id`);
      const n = QUIET_RATE * SECONDS;
      assert.deepEqual(stored.rows, [
        { session_id: 'alone', n },
        { session_id: 'beside-limit', n },
        { session_id: 'during', n },
        { session_id: 'warm-up', n },
      ]);
    } finally {
      await sql.end();
    }
  });
});
