import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { QueueUpkeep } from '../apps/broker/src/executions/queue-upkeep.js';
import { runCli } from './support/cli.js';
import { eventually } from './support/eventually.js';
import { sleep } from './support/sse-client.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';

const token = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('30m').sign(new TextEncoder().encode(SECRET));

interface Answer {
  status: number;
  body: any;
}

describe('query execution: the broker as the work queue of executors', () => {
  const env = {
    AUTH_MODE: 'jwt',
    AUTH_JWT_SECRET: SECRET,
    AUTH_CACHE_SECONDS: '0',
    QUERY_SWEEP_INTERVAL_MS: '100',
    // Far above every wait below: a claim that returns sooner was woken by NOTIFY, not by the safety-net poll.
    WATCH_POLL_MS: '20000',
  };
  let database: TestDatabase;
  let broker: TestBroker;
  let admin: string; // tenant-a: producer and admin (submits, executes, reads)
  let other: string; // tenant-b
  let keyA: string; // tenant-a, producer bound to namespace ns-a
  let keyB: string; // tenant-a, producer bound to namespace ns-b

  const call = async (method: string, path: string, bearer: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${broker.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const submit = (query: Record<string, unknown>, bearer = admin) =>
    call('POST', '/v2/queries', bearer, { name: 'q', namespace: 'ns-a', target: { type: 'agent', name: 'weather' }, input: 'hello', ...query });
  const claim = (executor: string, body: Record<string, unknown> = {}, bearer = admin) => call('POST', `/v2/executors/${executor}/claims`, bearer, body);
  const report = (queryId: string, body: Record<string, unknown>, bearer = admin) => call('POST', `/v2/queries/${queryId}/phase`, bearer, body);
  const heartbeat = (queryId: string, body: Record<string, unknown>, bearer = admin) => call('POST', `/v2/queries/${queryId}/heartbeat`, bearer, body);
  const execution = async (queryId: string, bearer = admin) => (await call('GET', `/v2/queries/${queryId}/execution`, bearer)).body;
  const sessionTypes = async (sessionId: string) =>
    ((await call('GET', `/v2/sessions/${sessionId}/events`, admin)).body.items as any[]).filter((e) => e.type.startsWith('query.')).map((e) => e.type);
  const uid = () => randomUUID();

  async function newKey(name: string, namespaces: string): Promise<string> {
    const created = await runCli(['keys', 'create', '--tenant', 'tenant-a', '--name', name, '--roles', 'producer', '--namespaces', namespaces], {
      DATABASE_URL: database.url,
    });
    assert.equal(created.code, 0, created.stderr);
    return /key: (ark_\S+)/.exec(created.stdout)![1]!;
  }

  before(async () => {
    database = await createTestDatabase();
    broker = await startTestBroker(env, database);
    admin = await token({ sub: 'alice', tenant: 'tenant-a', roles: ['producer', 'admin'] });
    other = await token({ sub: 'bob', tenant: 'tenant-b', roles: ['producer', 'admin'] });
    keyA = await newKey('executor-a', 'ns-a');
    keyB = await newKey('executor-b', 'ns-b');
  });
  after(async () => {
    await broker.close();
    await database.drop();
  });

  it('submits idempotently by queryId: 201, the same body 200, another body 409; bad bodies 400', async () => {
    const id = uid();
    const first = await submit({ queryId: id, sessionId: 's-submit' });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.phase, 'pending');
    assert.equal(first.body.attempt, 0);
    assert.equal(first.body.reassign, 'auto');
    const again = await submit({ queryId: id, sessionId: 's-submit' });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    const changed = await submit({ queryId: id, sessionId: 's-submit', input: 'something else' });
    assert.equal(changed.status, 409);
    assert.equal(changed.body.error.code, 'conflict');
    assert.equal((await submit({ queryId: uid(), target: { type: 'agent' } })).status, 400);
    assert.equal((await submit({ queryId: uid(), reassign: 'sometimes' })).status, 400);
    assert.equal((await call('GET', `/v2/queries?phase=pending&namespace=ns-a&limit=1000`, admin)).body.items.filter((q: any) => q.queryId === id).length, 1);
    await eventually(
      'the submit in the session',
      () => sessionTypes('s-submit'),
      (t) => t.includes('query.submitted'),
    );
  });

  it('never gives one query to two racing executors; each claim is assigned with attempt 1 and a lease', async () => {
    const ids = Array.from({ length: 120 }, uid);
    for (const id of ids) assert.equal((await submit({ queryId: id, namespace: 'ns-race', sessionId: 's-race' })).status, 201);
    const got = new Map<string, string>();
    await Promise.all(
      Array.from({ length: 6 }, async (_, n) => {
        for (;;) {
          const res = await claim(`racer-${n}`, { max: 7, namespaces: ['ns-race'] });
          assert.equal(res.status, 200, JSON.stringify(res.body));
          if (res.body.items.length === 0) return;
          for (const q of res.body.items) {
            assert.ok(!got.has(q.queryId), `${q.queryId} claimed by ${got.get(q.queryId)} and racer-${n}`);
            got.set(q.queryId, `racer-${n}`);
            assert.equal(q.phase, 'assigned');
            assert.equal(q.assignedExecutor, `racer-${n}`);
            assert.equal(q.attempt, 1);
            assert.ok(Date.parse(q.leaseExpiresAt) > Date.now());
          }
        }
      }),
    );
    assert.deepEqual([...got.keys()].sort(), [...ids].sort());
  });

  it('serves claims that arrive together in one round: each gets at most its max, with its own executor and lease', async () => {
    const owner = await token({ sub: 'dave', tenant: 'tenant-rounds', roles: ['producer', 'admin'] });
    const ids = Array.from({ length: 10 }, uid);
    for (const id of ids) assert.equal((await submit({ queryId: id, namespace: 'ns-round' }, owner)).status, 201);
    const claims = [1, 2, 3, 4, 5].map((max) => ({ executor: `rounder-${max}`, max, leaseSeconds: max * 600 }));
    const answers = await Promise.all(claims.map((c) => claim(c.executor, { max: c.max, leaseSeconds: c.leaseSeconds, namespaces: ['ns-round'] }, owner)));
    const got = new Set<string>();
    answers.forEach((answer, i) => {
      const { executor, max, leaseSeconds } = claims[i]!;
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.ok(answer.body.items.length <= max, `${executor} asked for ${max}, got ${answer.body.items.length}`);
      for (const q of answer.body.items) {
        assert.ok(!got.has(q.queryId), `${q.queryId} claimed twice`);
        got.add(q.queryId);
        assert.equal(q.assignedExecutor, executor);
        const lease = (Date.parse(q.leaseExpiresAt) - Date.parse(q.assignedAt)) / 1000;
        assert.ok(Math.abs(lease - leaseSeconds) < 1, `${executor}'s lease is ${lease} s, it asked for ${leaseSeconds}`);
      }
    });
    assert.deepEqual([...got].sort(), [...ids].sort(), 'the 10 queries, each claimed once');
    for (const [i, answer] of answers.entries()) {
      for (const q of answer.body.items) assert.equal((await execution(q.queryId, owner)).assignedExecutor, claims[i]!.executor);
    }
  });

  it('claims the oldest pending queries first across the namespaces it serves, named or all of them', async () => {
    // A tenant of its own: the other tests leave pending queries in tenant-a's namespaces.
    const owner = await token({ sub: 'carol', tenant: 'tenant-order', roles: ['producer', 'admin'] });
    const ids: string[] = [];
    for (const namespace of ['ns-z', 'ns-x', 'ns-y', 'ns-x', 'ns-z', 'ns-y']) {
      const id = uid();
      ids.push(id);
      assert.equal((await submit({ queryId: id, namespace }, owner)).status, 201);
    }
    const claimed = async (body: Record<string, unknown>) => ((await claim('picker', body, owner)).body.items as any[]).map((q) => q.queryId);
    assert.deepEqual(await claimed({ max: 3, namespaces: ['ns-x', 'ns-z'] }), [ids[0], ids[1], ids[3]], 'two namespaces merged, oldest first');
    assert.deepEqual(await claimed({ max: 2 }), [ids[2], ids[4]], 'every namespace, oldest first');
    assert.deepEqual(await claimed({ max: 10 }), [ids[5]]);
    assert.deepEqual(await claimed({ max: 10 }), []);
  });

  it('wakes a long-polling executor by NOTIFY when a query is submitted', async () => {
    const id = uid();
    const started = Date.now();
    const waiting = claim('sleeper', { waitSeconds: 15, namespaces: ['ns-wake'] });
    await sleep(300);
    assert.equal((await submit({ queryId: id, namespace: 'ns-wake' })).status, 201);
    const res = await waiting;
    assert.deepEqual(
      res.body.items.map((q: any) => q.queryId),
      [id],
    );
    assert.ok(Date.now() - started < 5_000, `woken after ${Date.now() - started} ms`);
    // Nothing pending: a short long-poll answers an empty list when its wait is over.
    const empty = Date.now();
    assert.deepEqual((await claim('sleeper', { waitSeconds: 1, namespaces: ['ns-wake'] })).body.items, []);
    assert.ok(Date.now() - empty >= 900);
  });

  it('runs a query through running to done; every transition is an event of its session; GET shows the execution', async () => {
    const id = uid();
    await submit({ queryId: id, namespace: 'ns-life', sessionId: 's-life', name: 'life' });
    const [q] = (await claim('worker-1', { namespaces: ['ns-life'], leaseSeconds: 30 })).body.items;
    assert.equal(q.queryId, id);
    const hb = await heartbeat(id, { executorId: 'worker-1', attempt: 1 });
    assert.equal(hb.status, 200);
    assert.equal(hb.body.cancelRequested, false);
    assert.equal((await report(id, { executorId: 'worker-1', attempt: 1, phase: 'running' })).body.phase, 'running');
    const executors = (await call('GET', '/v2/executors', admin)).body.items;
    assert.equal(executors.find((x: any) => x.executorId === 'worker-1').activeQueries, 1);
    const done = await report(id, { executorId: 'worker-1', attempt: 1, phase: 'done', response: { content: 'sunny' } });
    assert.equal(done.status, 200);
    assert.equal(done.body.phase, 'done');
    assert.deepEqual(done.body.response, { content: 'sunny' });
    // A retried report is answered with the state it made.
    assert.equal((await report(id, { executorId: 'worker-1', attempt: 1, phase: 'done', response: { content: 'sunny' } })).status, 200);
    await eventually(
      'the transitions in the session',
      () => sessionTypes('s-life'),
      (t) => t.join() === 'query.submitted,query.assigned,query.started,query.completed',
    );
    const shown = await execution(id);
    assert.deepEqual(
      shown.history.map((h: any) => h.type),
      ['query.submitted', 'query.assigned', 'query.started', 'query.completed'],
    );
    assert.equal(shown.assignedExecutor, 'worker-1');
    const view = await call('GET', `/v2/queries/${id}`, admin);
    assert.equal(view.status, 200);
    assert.equal(view.body.execution.phase, 'done');
    assert.equal(view.body.execution.assignedExecutor, 'worker-1');
  });

  it('shows a submitted query in its session at once: pending until its executor starts it, then running, then done', async () => {
    const id = uid();
    await submit({ queryId: id, namespace: 'ns-view', sessionId: 's-view', name: 'view', input: 'what is the weather' });
    const view = async () => (await call('GET', `/v2/queries/${id}`, admin)).body;
    const pending = await view();
    assert.equal(pending.phase, 'pending');
    assert.equal(pending.queryName, 'view');
    assert.equal(pending.input, 'what is the weather');
    assert.deepEqual(pending.target, { type: 'agent', name: 'weather' });
    assert.equal(pending.execution.phase, 'pending');
    const session = (await call('GET', '/v2/sessions/s-view', admin)).body;
    assert.equal(session.session.status, 'active', 'a session waiting for an executor is active');
    assert.deepEqual(
      session.queries.items.map((q: any) => [q.queryId, q.phase]),
      [[id, 'pending']],
    );

    assert.equal((await claim('viewer-1', { namespaces: ['ns-view'] })).body.items[0]?.queryId, id);
    await eventually('the assignment in the query', view, (q) => q.execution.phase === 'assigned');
    assert.equal((await view()).phase, 'pending', 'assigned: still no work');
    await report(id, { executorId: 'viewer-1', attempt: 1, phase: 'running' });
    assert.equal((await view()).phase, 'running');
    await report(id, { executorId: 'viewer-1', attempt: 1, phase: 'done', response: 'sunny' });
    const done = await view();
    assert.equal(done.phase, 'done');
    assert.equal(done.response, 'sunny');
    assert.equal((await call('GET', '/v2/sessions/s-view', admin)).body.session.status, 'idle');
  });

  it('reassigns a query whose lease ran out (reassign auto): attempt 2 goes to another executor, the lost one gets 409', async () => {
    const id = uid();
    await submit({ queryId: id, namespace: 'ns-lost', sessionId: 's-lost' });
    const [first] = (await claim('doomed', { namespaces: ['ns-lost'], leaseSeconds: 1 })).body.items;
    assert.equal(first.attempt, 1);
    assert.equal((await report(id, { executorId: 'doomed', attempt: 1, phase: 'running' })).status, 200);
    // The executor dies: no heartbeat. The sweeper puts the query back and wakes the waiting executor.
    const second = await claim('survivor', { namespaces: ['ns-lost'], waitSeconds: 10 });
    assert.equal(second.body.items[0]?.queryId, id);
    assert.equal(second.body.items[0].attempt, 2);
    const late = await report(id, { executorId: 'doomed', attempt: 1, phase: 'done', response: 'stale' });
    assert.equal(late.status, 409);
    assert.equal(late.body.error.code, 'conflict');
    assert.equal((await heartbeat(id, { executorId: 'doomed', attempt: 1 })).status, 409);
    assert.equal((await report(id, { executorId: 'survivor', attempt: 2, phase: 'done', response: 'fresh' })).status, 200);
    const shown = await execution(id);
    assert.equal(shown.response, 'fresh');
    assert.deepEqual(
      shown.history.map((h: any) => h.type),
      ['query.submitted', 'query.assigned', 'query.started', 'query.lease.expired', 'query.reassigned', 'query.assigned', 'query.completed'],
    );
    await eventually(
      'the reassignment in the session',
      () => sessionTypes('s-lost'),
      (t) => t.includes('query.reassigned') && t.includes('query.completed'),
    );
  });

  it('ends a lost query with ExecutorLost under reassign never (and after maxAttempts under auto); retry runs it again', async () => {
    const never = uid();
    await submit({ queryId: never, namespace: 'ns-never', reassign: 'never' });
    await claim('doomed', { namespaces: ['ns-never'], leaseSeconds: 1 });
    const lost = await eventually(
      'ExecutorLost',
      () => execution(never),
      (q) => q.phase === 'error',
    );
    assert.equal(lost.reason, 'ExecutorLost');
    assert.equal(lost.error.reason, 'ExecutorLost');
    assert.deepEqual((await claim('other', { namespaces: ['ns-never'] })).body.items, [], 'never reassigned by itself');
    const retried = await call('POST', `/v2/queries/${never}/retry`, admin);
    assert.equal(retried.status, 200);
    assert.equal(retried.body.phase, 'pending');
    const [again] = (await claim('other', { namespaces: ['ns-never'] })).body.items;
    assert.equal(again.attempt, 2);
    assert.equal((await report(never, { executorId: 'other', attempt: 2, phase: 'done', response: 'ok' })).status, 200);
    assert.equal((await call('POST', `/v2/queries/${never}/retry`, admin)).status, 409, 'a done query is not retried');

    const once = uid();
    await submit({ queryId: once, namespace: 'ns-once', maxAttempts: 1 });
    await claim('doomed', { namespaces: ['ns-once'], leaseSeconds: 1 });
    assert.equal(
      (
        await eventually(
          'ExecutorLost after the last attempt',
          () => execution(once),
          (q) => q.phase === 'error',
        )
      ).reason,
      'ExecutorLost',
    );
  });

  it('cancels a pending query at once, and an assigned or running one through its heartbeat', async () => {
    const pending = uid();
    await submit({ queryId: pending, namespace: 'ns-cancel', sessionId: 's-cancel' });
    const canceled = await call('POST', `/v2/queries/${pending}/cancel`, admin);
    assert.equal(canceled.status, 200);
    assert.equal(canceled.body.phase, 'canceled');
    assert.equal(canceled.body.reason, 'Canceled');

    for (const phase of ['assigned', 'running']) {
      const id = uid();
      await submit({ queryId: id, namespace: 'ns-cancel' });
      const [q] = (await claim('canceler', { namespaces: ['ns-cancel'] })).body.items;
      assert.equal(q.queryId, id);
      if (phase === 'running') await report(id, { executorId: 'canceler', attempt: 1, phase: 'running' });
      const requested = await call('POST', `/v2/queries/${id}/cancel`, admin);
      assert.equal(requested.body.phase, phase);
      assert.equal(requested.body.cancelRequested, true);
      assert.equal((await heartbeat(id, { executorId: 'canceler', attempt: 1 })).body.cancelRequested, true);
      const stopped = await report(id, { executorId: 'canceler', attempt: 1, phase: 'canceled' });
      assert.equal(stopped.body.phase, 'canceled');
    }
    await eventually(
      'the cancel in the session',
      () => sessionTypes('s-cancel'),
      (t) => t.includes('query.canceled'),
    );
  });

  it('cancels a query still pending after its ttlSeconds with reason Expired', async () => {
    const id = uid();
    await submit({ queryId: id, namespace: 'ns-ttl', ttlSeconds: 1 });
    const expired = await eventually(
      'the TTL',
      () => execution(id),
      (q) => q.phase === 'canceled',
      10_000,
    );
    assert.equal(expired.reason, 'Expired');
  });

  it('serves an executor only the namespaces its API key is bound to', async () => {
    const inA = uid();
    const inB = uid();
    assert.equal((await submit({ queryId: inA, namespace: 'ns-a' }, keyA)).status, 201);
    assert.equal((await submit({ queryId: inB, namespace: 'ns-b' }, keyB)).status, 201);
    assert.equal((await submit({ queryId: uid(), namespace: 'ns-b' }, keyA)).status, 403, 'a key bound to ns-a cannot submit to ns-b');
    assert.equal((await claim('bound-a', { namespaces: ['ns-b'] }, keyA)).status, 403);
    const claimedA: string[] = [];
    for (;;) {
      const items = (await claim('bound-a', { max: 50 }, keyA)).body.items as any[];
      if (items.length === 0) break;
      for (const q of items) {
        assert.equal(q.namespace, 'ns-a');
        claimedA.push(q.queryId);
      }
    }
    assert.ok(claimedA.includes(inA) && !claimedA.includes(inB));
    assert.equal((await heartbeat(inA, { executorId: 'bound-a', attempt: 1 }, keyB)).status, 404, "another namespace's query is not there");
    const [b] = (await claim('bound-b', {}, keyB)).body.items;
    assert.equal(b.queryId, inB);
  });

  it("keeps tenants apart: another tenant's executors never see, claim or touch the queue", async () => {
    const id = uid();
    await submit({ queryId: id, namespace: 'ns-tenant' });
    assert.deepEqual((await claim('foreign', { namespaces: ['ns-tenant'] }, other)).body.items, []);
    assert.equal((await call('GET', `/v2/queries/${id}/execution`, other)).status, 404);
    assert.equal((await call('POST', `/v2/queries/${id}/cancel`, other)).status, 404);
    assert.equal((await call('GET', '/v2/queries', other)).body.items.length, 0);
    // The same queryId in another tenant is another query.
    assert.equal((await submit({ queryId: id, namespace: 'ns-tenant' }, other)).status, 201);
    assert.equal((await claim('home', { namespaces: ['ns-tenant'] })).body.items[0].queryId, id);
  });

  it('forgets executors idle for an hour that hold no query, and keeps one holding a query however long it is silent', async () => {
    const held = uid();
    await submit({ queryId: held, namespace: 'ns-idle' });
    assert.equal((await claim('idle-holding', { namespaces: ['ns-idle'], leaseSeconds: 3600 })).body.items[0]?.queryId, held);
    assert.equal((await claim('idle-empty', { namespaces: ['ns-idle'] })).body.items.length, 0);
    assert.equal((await claim('recent', { namespaces: ['ns-idle'] })).body.items.length, 0);
    // Their last claims an hour and more ago (only `recent` is current).
    await broker.sql.query(`UPDATE query_executors SET last_seen_at = now() - interval '61 minutes' WHERE executor_id IN ('idle-holding', 'idle-empty')`);
    const upkeep = await broker.app.get(QueueUpkeep).upkeepOnce();
    assert.ok(upkeep.executorsForgotten >= 1, JSON.stringify(upkeep));
    const left = await broker.sql.query<{ executor_id: string }>(
      `SELECT executor_id FROM query_executors WHERE executor_id IN ('idle-holding', 'idle-empty', 'recent') ORDER BY 1`,
    );
    assert.deepEqual(
      left.rows.map((r) => r.executor_id),
      ['idle-holding', 'recent'],
    );
    const shown = (await call('GET', '/v2/executors', admin)).body.items.map((x: any) => x.executorId);
    assert.ok(shown.includes('idle-holding') && shown.includes('recent') && !shown.includes('idle-empty'), shown.join(', '));
    assert.equal((await report(held, { executorId: 'idle-holding', attempt: 1, phase: 'done', response: 'ok' })).status, 200);
  });

  it('keeps the queue across a broker restart: the executor carries on with the new process', async () => {
    const id = uid();
    await submit({ queryId: id, namespace: 'ns-restart' });
    const [q] = (await claim('steady', { namespaces: ['ns-restart'], leaseSeconds: 60 })).body.items;
    assert.equal(q.queryId, id);
    const pendingId = uid();
    await submit({ queryId: pendingId, namespace: 'ns-restart' });
    await broker.close();
    broker = await startTestBroker(env, database);
    assert.equal((await heartbeat(id, { executorId: 'steady', attempt: 1 })).status, 200);
    assert.equal((await report(id, { executorId: 'steady', attempt: 1, phase: 'done', response: 42 })).status, 200);
    assert.equal((await claim('steady', { namespaces: ['ns-restart'] })).body.items[0]?.queryId, pendingId);
    assert.deepEqual(
      (await execution(id)).history.map((h: any) => h.type),
      ['query.submitted', 'query.assigned', 'query.completed'],
    );
  });
});
