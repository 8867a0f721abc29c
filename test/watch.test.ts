import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { EventWatchHub } from '#ark/event-store';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const append = (broker: TestBroker, sessionId: string, count: number, from = 0) =>
  postJson(
    `${broker.url}/v2/events`,
    Array.from({ length: count }, (_, i) => ({ sessionId, type: 'custom.step', data: { n: from + i + 1 } })),
  );

describe('watch streams', () => {
  let broker: TestBroker;
  before(async () => {
    // A long safety-net poll, so these tests prove NOTIFY and reconnect catch-up, not the poll.
    broker = await startTestBroker({ WATCH_POLL_MS: '60000', SSE_HEARTBEAT_MS: '200' });
  });
  after(() => broker.close());

  it('frames SSE with retry, id lines, heartbeats and no-buffering headers', async () => {
    await append(broker, 'framing', 2);
    const res = await fetch(`${broker.url}/v2/sessions/framing/events?watch=true`, { headers: { 'x-request-id': 'watch-1' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    assert.equal(res.headers.get('x-request-id'), 'watch-1');
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 3000;
    while (!text.includes(': heartbeat') && Date.now() < deadline) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    assert.match(text, /^retry: \d+\n\n/);
    assert.match(text, /id: 1\ndata: \{.*"sequence":1.*\}\n\n/);
    assert.match(text, /id: 2\ndata: /);
    assert.match(text, /: heartbeat\n\n/);
  });

  it('resumes from Last-Event-ID: 40 with exactly 41..100, then live events', async () => {
    for (let i = 0; i < 100; i += 25) assert.equal((await append(broker, 'resume', 25, i)).status, 201);
    const watcher = new RecordingEventSource(`${broker.url}/v2/sessions/resume/events?watch=true`, { 'Last-Event-ID': '40' });
    const history = await watcher.waitFor(60);
    assert.deepEqual(
      history.map((m) => Number(m.id)),
      Array.from({ length: 60 }, (_, i) => 41 + i),
    );
    assert.deepEqual(
      history.map((m) => m.data.sequence),
      Array.from({ length: 60 }, (_, i) => 41 + i),
    );
    await append(broker, 'resume', 5, 100);
    const all = await watcher.waitFor(65);
    await sleep(200);
    assert.deepEqual(
      all.map((m) => m.data.sequence),
      Array.from({ length: 65 }, (_, i) => 41 + i),
    );
    watcher.close();
  });

  it('resumes with ?cursor= as well, and Last-Event-ID wins over it', async () => {
    await append(broker, 'cursor', 10);
    const byCursor = new RecordingEventSource(`${broker.url}/v2/sessions/cursor/events?watch=true&cursor=7`);
    assert.deepEqual(
      (await byCursor.waitFor(3)).map((m) => m.id),
      ['8', '9', '10'],
    );
    byCursor.close();
    const both = new RecordingEventSource(`${broker.url}/v2/sessions/cursor/events?watch=true&cursor=2`, { 'Last-Event-ID': '9' });
    await both.waitFor(1);
    await sleep(200);
    assert.deepEqual(
      both.messages.map((m) => m.id),
      ['10'],
    );
    both.close();
  });

  it('loses nothing when the LISTEN connection is killed mid-stream', async () => {
    const sessionWatcher = new RecordingEventSource(`${broker.url}/v2/sessions/listener-kill/events?watch=true`);
    const feedWatcher = new RecordingEventSource(`${broker.url}/v2/events?watch=true`);
    await Promise.all([sessionWatcher.opened, feedWatcher.opened]);
    await sleep(100);
    await append(broker, 'listener-kill', 10);
    await sessionWatcher.waitFor(10);

    const killed = await broker.sql.query(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'ark-broker-listener' AND datname = current_database()",
    );
    assert.equal(killed.rowCount, 1, 'exactly one LISTEN connection per process');
    // Appended while the listener is down: only the reconnect catch-up can deliver these.
    await append(broker, 'listener-kill', 10, 10);
    await sleep(300);
    await append(broker, 'listener-kill', 10, 20);

    const received = await sessionWatcher.waitFor(30);
    await feedWatcher.waitFor(30);
    await sleep(300);
    const expected = Array.from({ length: 30 }, (_, i) => i + 1);
    assert.deepEqual(
      received.map((m) => m.data.sequence),
      expected,
    );
    assert.deepEqual(
      feedWatcher.messages.filter((m) => m.data.sessionId === 'listener-kill').map((m) => m.data.sequence),
      expected,
    );
    const { rows } = await broker.sql.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ark-broker-listener' AND datname = current_database()",
    );
    assert.equal(rows[0].n, 1, 'the listener reconnected');
    sessionWatcher.close();
    feedWatcher.close();
  });

  it('fans one session out to many watchers, each exactly once and in order', async () => {
    const watchers = Array.from({ length: 25 }, () => new RecordingEventSource(`${broker.url}/v2/sessions/fanout/events?watch=true`));
    await Promise.all(watchers.map((w) => w.opened));
    await Promise.all(Array.from({ length: 10 }, (_, i) => append(broker, 'fanout', 5, i * 5)));
    for (const w of watchers) {
      await w.waitFor(50);
    }
    await sleep(200);
    for (const w of watchers) {
      assert.deepEqual(
        w.messages.map((m) => m.data.sequence),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      w.close();
    }
  });

  it('the tenant feed without a cursor starts from now; with one it replays', async () => {
    await append(broker, 'feed-history', 3);
    const live = new RecordingEventSource(`${broker.url}/v2/events?watch=true`);
    await live.opened;
    await sleep(100);
    await append(broker, 'feed-live', 2);
    const got = await live.waitFor(2);
    await sleep(200);
    assert.deepEqual(
      got.map((m) => m.data.sessionId),
      ['feed-live', 'feed-live'],
    );
    const resumed = new RecordingEventSource(`${broker.url}/v2/events?watch=true`, { 'Last-Event-ID': got[0]!.id });
    assert.deepEqual(
      (await resumed.waitFor(1)).map((m) => m.id),
      [got[1]!.id],
    );
    live.close();
    resumed.close();
  });

  it('a feed held back by an older transaction delivers as soon as that one commits, not at its next retry', async () => {
    const live = new RecordingEventSource(`${broker.url}/v2/events?watch=true`);
    await live.opened;
    // An older transaction with an xid (say, another tenant's append): the feed may not pass it.
    const blocker = await broker.sql.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_current_xact_id()');
      assert.equal((await append(broker, 'held-feed', 1)).status, 201);
      // Held past several retries: the retry delay has grown to over a second by now.
      await sleep(1_500);
      assert.equal(live.messages.length, 0, 'nothing passes the open older transaction');
      // It commits with the wake-up an append to another tenant's session sends: naming nothing this feed watches.
      await blocker.query(
        `SELECT pg_notify('ark_events', json_build_object('tx', pg_current_xact_id()::text, 's', json_build_array(json_build_array('other-tenant', 'elsewhere', 1)))::text)`,
      );
      const committedAt = Date.now();
      await blocker.query('COMMIT');
      const [event] = await live.waitFor(1, 5_000);
      assert.equal(event!.data.sessionId, 'held-feed');
      const delayMs = Date.now() - committedAt;
      assert.ok(delayMs < 500, `delivered ${delayMs} ms after the older transaction committed`);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      live.close();
    }
  });
});

describe('slow consumers', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ SSE_STALL_TIMEOUT_MS: '500' });
  });
  after(() => broker.close());

  it('stops writing to a client that does not read, then cuts it; others are unaffected', async () => {
    // More than the loopback socket buffers of both ends can absorb, so the server sees backpressure.
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 20; i++) {
      const res = await postJson(
        `${broker.url}/v2/events`,
        Array.from({ length: 50 }, () => ({ sessionId: 'flood', type: 'custom.big', data: { big } })),
      );
      assert.equal(res.status, 201);
    }
    const hub = broker.app.get(EventWatchHub);
    // A raw client that never reads its socket (it cannot even see the server hang up).
    const stuck = http.get(`${broker.url}/v2/sessions/flood/events?watch=true`, (res) => res.pause());
    stuck.on('error', () => undefined);
    const healthy = new RecordingEventSource(`${broker.url}/v2/sessions/flood/events?watch=true`);
    await healthy.waitFor(1000, 30_000);
    assert.equal(healthy.messages.length, 1000);

    // The server stops writing to the stuck one and, past the stall timeout, drops it.
    const deadline = Date.now() + 15_000;
    while (hub.watcherCount > 1 && Date.now() < deadline) await sleep(100);
    assert.equal(hub.watcherCount, 1, 'only the healthy watcher is left');
    healthy.close();
    stuck.destroy();
  });
});
