import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { spawnBroker } from './support/broker-process.js';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

describe('several broker replicas on one database', () => {
  let database: TestDatabase;
  let replicas: TestBroker[];
  before(async () => {
    database = await createTestDatabase();
    replicas = [];
    for (let i = 0; i < 3; i++) replicas.push(await startTestBroker({}, database));
  });
  after(async () => {
    for (const r of replicas) await r.close();
    await database.drop();
  });

  it('an event posted to replica A reaches watchers on B and C, once each', async () => {
    const [a, b, c] = replicas as [TestBroker, TestBroker, TestBroker];
    const onB = new RecordingEventSource(`${b.url}/v2/sessions/shared/events?watch=true`);
    const onC = new RecordingEventSource(`${c.url}/v2/events?watch=true`);
    await Promise.all([onB.opened, onC.opened]);
    await sleep(100);
    for (let i = 0; i < 5; i++) assert.equal((await postJson(`${a.url}/v2/events`, { sessionId: 'shared', type: 'custom.a', data: { i } })).status, 201);
    assert.deepEqual(
      (await onB.waitFor(5)).map((m) => m.data.sequence),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      (await onC.waitFor(5)).map((m) => m.data.data.i),
      [0, 1, 2, 3, 4],
    );
    await sleep(200);
    assert.equal(onB.messages.length, 5);
    assert.equal(onC.messages.length, 5);
    onB.close();
    onC.close();
  });

  it('the sessions watch on C reflects a message posted to B', async () => {
    const [a, b, c] = replicas as [TestBroker, TestBroker, TestBroker];
    await postJson(`${a.url}/events`, {
      reason: 'QueryExecutionStart',
      data: { queryId: 'uid-chat', queryName: 'chat-query', sessionId: 'session-replicas' },
    });
    const watcher = new RecordingEventSource(`${c.url}/sessions?watch=true&session_id=session-replicas`);
    const [initial] = await watcher.waitFor(1);
    assert.equal(initial!.data.session.queries['chat-query'].conversationId, undefined);
    const posted = await fetch(`${b.url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: 'conv-r', query_id: 'chat-query', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(posted.status, 200);
    const frames = await watcher.waitFor(2);
    assert.equal(frames[1]!.data.sessionId, 'session-replicas');
    assert.equal(frames[1]!.data.session.queries['chat-query'].conversationId, 'conv-r');
    watcher.close();
  });
});

describe('executors waiting on replicas', () => {
  it('a submit wakes an executor waiting on the same replica and one waiting on another, well before the poll', async () => {
    // The poll (the safety net behind a lost wake-up) is 60 s here: an answer within seconds came from a wake-up.
    const a = await startTestBroker({ WATCH_POLL_MS: '60000' });
    const b = await startTestBroker({ WATCH_POLL_MS: '60000' }, a.database);
    try {
      const claimWithin = async (url: string, executorId: string, namespace: string) => {
        const started = performance.now();
        const answer = await postJson(`${url}/v2/executors/${executorId}/claims`, { max: 1, waitSeconds: 20, namespaces: [namespace] });
        return { ms: performance.now() - started, ids: (answer.body as { items: { queryId: string }[] }).items.map((i) => i.queryId) };
      };
      const submit = (url: string, queryId: string, namespace: string) =>
        postJson(`${url}/v2/queries`, { queryId, name: queryId, namespace, target: { type: 'agent', name: 'a' }, input: 'hi' });
      for (const [waitOn, label] of [
        [a, 'the same replica (woken there without its NOTIFY)'],
        [b, 'another replica (woken by the NOTIFY)'],
      ] as const) {
        const namespace = `ns-wake-${label.split(' ')[1]}`;
        const claimed = claimWithin(waitOn.url, `waiter-${namespace}`, namespace);
        await sleep(300);
        assert.equal((await submit(a.url, `q-${namespace}`, namespace)).status, 201);
        const { ms, ids } = await claimed;
        assert.deepEqual(ids, [`q-${namespace}`], label);
        assert.ok(ms < 10_000, `${label}: claimed after ${Math.round(ms)} ms`);
      }
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('a replica killed with SIGKILL during ingest', () => {
  it('loses no acknowledged event, and retries on another replica store nothing twice', async () => {
    const survivor = await startTestBroker();
    const victim = await spawnBroker(survivor.database.url, { LOG_LEVEL: 'error' });
    const victimUrl = victim.url;
    try {
      const acknowledged = new Set<string>();
      let killed = false;
      let victimAcks = 0;
      const send = async (url: string, key: string) =>
        fetch(`${url}/v2/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ sessionId: `load-${key.split('-')[0]}`, type: 'custom.load', dedupeKey: key, data: { key } }),
        }).then(
          (r) => r.status === 201,
          () => false,
        );
      const workers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 150; i++) {
          const key = `${w}-${i}`;
          // Until the kill: the victim; an unanswered request is retried on the survivor, same key.
          if (!killed && (await send(victimUrl, key))) {
            victimAcks++;
            acknowledged.add(key);
            // Killed mid-run, once it has acknowledged a share (not at a fixed time: on a loaded machine that may be before its first answer).
            if (victimAcks === 200 && !killed) {
              killed = true;
              victim.child.kill('SIGKILL');
            }
          } else if (await send(survivor.url, key)) acknowledged.add(key);
        }
      });
      await Promise.all(workers);
      assert.ok(killed);
      assert.ok(victimAcks > 0 && victimAcks < 1200, `the kill came mid-run (victim acknowledged ${victimAcks})`);
      const { rows } = await survivor.sql.query<{ dedupe_key: string; n: number }>(
        "SELECT dedupe_key, count(*)::int AS n FROM events WHERE type = 'custom.load' GROUP BY dedupe_key",
      );
      const stored = new Map(rows.map((r) => [r.dedupe_key, r.n]));
      assert.equal(acknowledged.size, 1200, 'every request was answered 2xx by one replica or the other');
      for (const key of acknowledged) assert.equal(stored.get(key), 1, `acknowledged ${key} stored exactly once`);
      const sequences = await survivor.sql.query<{ session_id: string; n: number; max: number }>(
        "SELECT session_id, count(*)::int AS n, max(sequence)::int AS max FROM events WHERE type = 'custom.load' GROUP BY session_id",
      );
      for (const s of sequences.rows) assert.equal(s.n, s.max, `${s.session_id}: sequences stay 1..N`);
    } finally {
      victim.child.kill('SIGKILL');
      await survivor.close();
    }
  });
});
