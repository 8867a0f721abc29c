import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(50);
  }
  return Date.now() - start;
}

/**
 * The database going away under a running broker, without touching the shared server: every broker
 * connection to the test's own database is terminated (pg_terminate_backend), and for a PostgreSQL
 * restart's window new connections to that database are refused meanwhile (ALLOW_CONNECTIONS false).
 */
describe('PostgreSQL connections lost during ingest and watching', () => {
  let broker: TestBroker;
  let admin: pg.Client;
  let database: string;
  before(async () => {
    broker = await startTestBroker();
    database = new URL(broker.database.url).pathname.slice(1);
    admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
  });
  after(async () => {
    await admin?.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end();
    await broker?.close();
  });

  const terminateBrokerConnections = async () =>
    (
      await admin.query<{ n: number }>(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'ark-broker%'",
        [database],
      )
    ).rows[0]!.n;
  const ready = () =>
    fetch(`${broker.url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );

  it('reports not-ready, recovers by itself; watchers resume with no gap; acknowledged data intact', async (t) => {
    const sessionWatch = new RecordingEventSource(`${broker.url}/v2/sessions/outage-0/events?watch=true`);
    const feedWatch = new RecordingEventSource(`${broker.url}/v2/events?watch=true`);
    await Promise.all([sessionWatch.opened, feedWatch.opened]);

    // Four producers; a request that fails is retried with the same dedupe key until it gets a 201.
    const acknowledged = new Set<string>();
    let failures = 0;
    let writing = true;
    const producers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) {
        const key = `w${w}-${i}`;
        for (;;) {
          const ok = await fetch(`${broker.url}/v2/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ sessionId: `outage-${w}`, type: 'custom.load', dedupeKey: key, data: { key } }),
          }).then(
            (r) => r.status === 201,
            () => false,
          );
          if (ok) break;
          failures++;
          await sleep(50);
        }
        acknowledged.add(key);
        await sleep(10);
      }
    });

    await sleep(500);
    const outages: { notReadyAfterMs: number; recoveredAfterMs: number; terminated: number }[] = [];
    for (let round = 0; round < 3; round++) {
      // A restart: connections dropped, and refused for a second.
      await admin.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS false`);
      const terminated = await terminateBrokerConnections();
      const notReadyAfterMs = await waitUntil('/readyz reports not ready', async () => !(await ready()), 10_000);
      await sleep(1_000);
      await admin.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`);
      const recoveredAfterMs = await waitUntil('/readyz reports ready again', ready, 30_000);
      outages.push({ notReadyAfterMs, recoveredAfterMs, terminated });
      // Then connections killed again and again while the broker reconnects.
      for (let k = 0; k < 4; k++) {
        await sleep(250);
        await terminateBrokerConnections();
      }
      await sleep(500);
    }
    t.diagnostic(`outages: ${JSON.stringify(outages)}; failed requests retried: ${failures}`);
    // A round may find no connection to kill (the broker had not reconnected yet); all rounds together must.
    assert.ok(outages.reduce((n, o) => n + o.terminated, 0) >= 3, 'broker connections were terminated');
    await waitUntil('/readyz reports ready at the end', ready, 30_000);
    // Ingest goes on after the last outage.
    const before = acknowledged.size;
    await waitUntil('producers get acknowledgements again', async () => acknowledged.size >= before + 40, 30_000);

    writing = false;
    await Promise.all(producers);
    assert.ok(failures > 0, 'the outages made some requests fail (and be retried)');

    // Acknowledged data intact: every acknowledged key once, sequences 1..N per session.
    const { rows } = await broker.sql.query<{ dedupe_key: string; n: number }>(
      "SELECT dedupe_key, count(*)::int AS n FROM events WHERE type = 'custom.load' GROUP BY dedupe_key",
    );
    const stored = new Map(rows.map((r) => [r.dedupe_key, r.n]));
    for (const key of acknowledged) assert.equal(stored.get(key), 1, `${key} stored once`);
    const { rows: heads } = await broker.sql.query<{ session_id: string; n: number; max: number }>(
      "SELECT session_id, count(*)::int AS n, max(sequence)::int AS max FROM events WHERE type = 'custom.load' GROUP BY session_id ORDER BY session_id",
    );
    for (const h of heads) assert.equal(h.n, h.max, `${h.session_id}: sequences 1..N`);

    // The watchers lived through it and saw everything once, in order.
    const session0 = heads.find((h) => h.session_id === 'outage-0')!;
    const seen = await sessionWatch.waitFor(session0.n, 30_000);
    await sleep(300);
    assert.deepEqual(
      seen.map((m) => m.data.sequence),
      Array.from({ length: session0.n }, (_, i) => i + 1),
    );
    const { rows: all } = await broker.sql.query<{ global_position: string }>('SELECT global_position FROM events ORDER BY transaction_id, global_position');
    const feed = await feedWatch.waitFor(all.length, 30_000);
    await sleep(300);
    assert.deepEqual(
      feed.map((m) => String(m.data.globalPosition)),
      all.map((r) => r.global_position),
    );
    sessionWatch.close();
    feedWatch.close();
  });
});
