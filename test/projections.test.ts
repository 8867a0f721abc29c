import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { CLI, runCli } from './support/cli.js';
import { RecordingEventSource } from './support/sse-client.js';
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

  it('rebuilds without stalling appends or the tenant feed, and the result is what a quiet replay gives', async () => {
    // Enough history that the replay takes a while.
    for (let b = 0; b < 60; b++) {
      const res = await postJson(
        `${broker.url}/v2/events`,
        Array.from({ length: 500 }, (_, i) => ({
          sessionId: `bulk-${(b * 500 + i) % 97}`,
          type: 'custom.bulk',
          userId: `u-${i % 7}`,
          time: new Date(Date.UTC(2026, 3, 1, 0, 0, b, i)).toISOString(),
          data: { b, i },
        })),
      );
      assert.equal(res.status, 201);
    }
    const feed = new RecordingEventSource(`${broker.url}/v2/events?watch=true`);
    await feed.opened;

    const rebuild = spawn(process.execPath, [CLI, 'projections', 'rebuild'], {
      env: { ...process.env, DATABASE_URL: broker.database.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    rebuild.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => rebuild.once('exit', resolve));
    let running = true;
    void exited.then(() => (running = false));
    // Appends while it runs; the feed delivers them while it runs (a rebuild in one long transaction
    // held the horizon, and the read-model locks held appends, until it ended).
    let posted = 0;
    let deliveredWhileRunning = 0;
    while (running) {
      const res = await postJson(`${broker.url}/v2/events`, [
        { sessionId: `live-${posted % 5}`, type: 'custom.live', userId: 'u-live', data: { n: posted } },
        { sessionId: 'bulk-3', type: 'custom.live', data: { n: posted } },
      ]);
      assert.equal(res.status, 201);
      posted++;
      await new Promise((r) => setTimeout(r, 20));
      if (running) deliveredWhileRunning = feed.messages.length;
    }
    assert.equal(await exited, 0, stdout);
    assert.match(stdout, /rebuilt .* from \d+ events .*swap \d+ ms/);
    assert.ok(deliveredWhileRunning >= 10, `the feed delivered ${deliveredWhileRunning} of ${posted * 2} events while the rebuild ran (${stdout.trim()})`);
    await feed.waitFor(posted * 2);
    feed.close();

    // The tables as rebuilt under load plus what was projected live since are exactly what a replay of
    // the log gives now: a second rebuild, with nothing running, finds no row to change.
    const before = (await broker.sql.query(SESSIONS_SQL)).rows;
    const again = await runCli(['projections', 'rebuild'], { DATABASE_URL: broker.database.url });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, / 0 rows changed/);
    assert.deepEqual((await broker.sql.query(SESSIONS_SQL)).rows, before);
    const live = before.find((r) => r.session_id === 'bulk-3');
    const bulkToSession3 = Array.from({ length: 30_000 }, (_, k) => k).filter((k) => k % 97 === 3).length;
    assert.equal(Number(live.event_count), bulkToSession3 + posted, 'every event counted once: none lost or doubled by the swap');
    assert.equal(Number(live.last_sequence), bulkToSession3 + posted);
  });
});
