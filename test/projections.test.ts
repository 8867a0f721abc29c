import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from './support/cli.js';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const SESSIONS_SQL = `SELECT tenant_id, session_id, user_id, first_activity_at, last_activity_at, event_count, last_sequence
                      FROM sessions ORDER BY tenant_id, session_id`;

describe('inline projections', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('keeps the sessions table in step with every append', async () => {
    await postJson(`${broker.url}/v2/events`, [
      { sessionId: 'p1', type: 'custom.a', time: '2026-03-01T10:00:05Z', userId: 'alice', data: {} },
      { sessionId: 'p1', type: 'custom.a', time: '2026-03-01T10:00:01Z', data: {} },
      { sessionId: 'p2', type: 'custom.a', time: '2026-03-01T11:00:00Z', data: {} },
    ]);
    await postJson(`${broker.url}/v2/events`, { sessionId: 'p1', type: 'custom.b', time: '2026-03-01T10:00:09Z', data: {} });
    // A duplicate changes nothing, the projection included.
    await postJson(`${broker.url}/v2/events`, { sessionId: 'p1', type: 'custom.b', dedupeKey: 'once', time: '2026-03-01T10:00:10Z', data: {} });
    await postJson(`${broker.url}/v2/events`, { sessionId: 'p1', type: 'custom.b', dedupeKey: 'once', time: '2026-03-01T10:00:10Z', data: {} });

    const { rows } = await broker.sql.query(SESSIONS_SQL);
    assert.equal(rows.length, 2);
    const p1 = rows.find((r) => r.session_id === 'p1');
    assert.equal(p1.user_id, 'alice');
    assert.equal(Number(p1.event_count), 4);
    assert.equal(Number(p1.last_sequence), 4);
    assert.equal(p1.first_activity_at.toISOString(), '2026-03-01T10:00:01.000Z');
    assert.equal(p1.last_activity_at.toISOString(), '2026-03-01T10:00:10.000Z');
  });

  it('`ark-broker projections rebuild` replays the log into the same tables as the live projection', async () => {
    // A mixed, concurrent workload over many sessions.
    await Promise.all(
      Array.from({ length: 40 }, (_, w) =>
        postJson(
          `${broker.url}/v2/events`,
          Array.from({ length: 25 }, (_, i) => ({
            sessionId: `mix-${(w * 7 + i) % 13}`,
            type: i % 3 ? 'custom.step' : 'custom.other',
            time: new Date(Date.UTC(2026, 2, 1, 12, w, i)).toISOString(),
            userId: i === 3 ? `user-${w % 4}` : undefined,
            dedupeKey: i % 5 === 0 ? `k-${w % 10}-${i}` : undefined,
            data: { w, i },
          })),
        ),
      ),
    );
    const live = (await broker.sql.query(SESSIONS_SQL)).rows;
    await broker.sql.query('UPDATE sessions SET event_count = 0'); // corrupt it, to see the rebuild fix it

    const result = await runCli(['projections', 'rebuild'], { DATABASE_URL: broker.database.url });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /rebuilt .*sessions.* from \d+ events/);

    const rebuilt = (await broker.sql.query(SESSIONS_SQL)).rows;
    assert.deepEqual(rebuilt, live);
  });
});
