import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { spawnBroker } from './support/broker-process.js';
import { runCli } from './support/cli.js';
import { eventually } from './support/eventually.js';
import { ExecutorProcesses } from './support/executor-processes.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/** dist/test/support/echo-executor.js: an SDK executor process that answers each query at once. */
const ECHO_EXECUTOR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'support/echo-executor.js');
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';

/** Per query: how its transitions and its session's events went (from the database itself). */
interface Outcome {
  query_id: string;
  namespace: string;
  phase: string;
  attempt: number;
  assigned_executor: string;
  response: { by: string } | null;
  assigned: string[];
  completed: number;
  completed_events: number;
}

describe('executor processes on the SDK: many queries, namespaces, a replica killed', () => {
  const env = { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, AUTH_CACHE_SECONDS: '0', QUERY_SWEEP_INTERVAL_MS: '200' };
  let database: TestDatabase;
  let broker: TestBroker;
  let admin: string;
  const keys: Record<string, string> = {};
  const processes = new ExecutorProcesses();
  const startExecutor = (id: string, key: string, urls: string[], extra: Record<string, string> = {}): ChildProcess =>
    processes.start(ECHO_EXECUTOR, { BROKER_URL: urls.join(','), BROKER_TOKEN: key, EXECUTOR_ID: id, ...extra });
  const stopExecutor = (child: ChildProcess, signal?: NodeJS.Signals) => processes.stop(child, signal);
  const submitAll = async (url: string, queries: { id: string; namespace: string }[]) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let q = queries[next++]; q; q = queries[next++]) {
          const res = await fetch(`${url}/v2/queries`, {
            method: 'POST',
            headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              queryId: q.id,
              name: 'q',
              namespace: q.namespace,
              sessionId: `s-${q.namespace}`,
              target: { type: 'agent', name: 'a' },
              input: q.id,
            }),
          });
          assert.equal(res.status, 201, await res.text());
        }
      }),
    );
  };
  const outcomes = async (ids: string[]): Promise<Outcome[]> =>
    (
      await broker.sql.query<Outcome>(
        `SELECT e.query_id, e.namespace, e.phase, e.attempt, e.assigned_executor, e.response,
           array(SELECT t.data->>'executorId' FROM query_transitions t WHERE t.tenant_id = e.tenant_id AND t.query_id = e.query_id AND t.type = 'query.assigned') AS assigned,
           (SELECT count(*)::int FROM query_transitions t WHERE t.tenant_id = e.tenant_id AND t.query_id = e.query_id AND t.type = 'query.completed') AS completed,
           (SELECT count(*)::int FROM events v WHERE v.tenant_id = e.tenant_id AND v.session_id = e.session_id AND v.query_id = e.query_id AND v.type = 'query.completed') AS completed_events
         FROM query_executions e WHERE e.tenant_id = 'tenant-a' AND e.query_id = ANY ($1::text[])`,
        [ids],
      )
    ).rows;
  const doneCount = async (ids: string[]) =>
    (await broker.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM query_executions WHERE query_id = ANY ($1::text[]) AND phase = 'done'`, [ids]))
      .rows[0]!.n;

  before(async () => {
    database = await createTestDatabase();
    broker = await startTestBroker(env, database);
    admin = await new SignJWT({ sub: 'alice', tenant: 'tenant-a', roles: ['producer', 'admin'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('30m')
      .sign(new TextEncoder().encode(SECRET));
    for (const namespace of ['ns-a', 'ns-b']) {
      const created = await runCli(
        ['keys', 'create', '--tenant', 'tenant-a', '--name', `exec-${namespace}`, '--roles', 'producer', '--namespaces', namespace],
        {
          DATABASE_URL: database.url,
        },
      );
      assert.equal(created.code, 0, created.stderr);
      keys[namespace] = /key: (ark_\S+)/.exec(created.stdout)![1]!;
    }
  });
  after(async () => {
    await processes.stopAll();
    await broker.close();
    await database.drop();
  });

  it('runs 1,000 queries over 4 executor processes in 2 namespaces: each done exactly once, only by an executor bound to its namespace', async () => {
    // Each process's API key is bound to one namespace: the broker, not the executor, keeps them apart.
    const executors = ['a1', 'a2', 'b1', 'b2'].map((n) => startExecutor(`exec-${n}`, keys[`ns-${n[0]}`]!, [broker.url]));
    const queries = Array.from({ length: 1_000 }, (_, n) => ({ id: randomUUID(), namespace: n % 2 ? 'ns-b' : 'ns-a' }));
    const ids = queries.map((q) => q.id);
    try {
      await submitAll(broker.url, queries);
      // The whole suite shares two cores: generous.
      await eventually(
        'all 1,000 queries done',
        () => doneCount(ids),
        (n) => n === 1_000,
        300_000,
      );
    } finally {
      // Stopped whatever happens: left running, they would claim the next test's queries.
      await Promise.all(executors.map((c) => stopExecutor(c)));
    }
    // A phase commits first and its ark event follows (transitions are published after the answer).
    const rows = await eventually(
      'every completion in its session',
      () => outcomes(ids),
      (all) => all.length === 1_000 && all.every((q) => q.completed_events === 1),
      60_000,
    );
    assert.equal(rows.length, 1_000);
    const ranBy = new Map<string, number>();
    for (const q of rows) {
      const own = `exec-${q.namespace.slice(-1)}`;
      assert.equal(q.phase, 'done');
      assert.equal(q.attempt, 1, `${q.query_id} claimed ${q.attempt} times`);
      assert.deepEqual(q.assigned, [q.assigned_executor], `${q.query_id} assigned once`);
      assert.ok(q.assigned_executor.startsWith(own), `${q.assigned_executor} ran ${q.query_id} of ${q.namespace}`);
      assert.equal(q.response?.by, q.assigned_executor);
      assert.equal(q.completed, 1);
      assert.equal(q.completed_events, 1, `${q.query_id}: one query.completed in its session`);
      ranBy.set(q.assigned_executor, (ranBy.get(q.assigned_executor) ?? 0) + 1);
    }
    assert.deepEqual([...ranBy.keys()].sort(), ['exec-a1', 'exec-a2', 'exec-b1', 'exec-b2'], 'every process took part');
  });

  it('moves long-polling executors to another replica when theirs is killed (SIGKILL): every query still done once', async () => {
    const victim = await spawnBroker(database.url, { ...env, LOG_LEVEL: 'error' });
    try {
      // The victim first: the executors long-poll it until it dies, then go on with the survivor.
      const urls = [victim.url, broker.url];
      const executors = ['a1', 'a2', 'b1'].map((n) => startExecutor(`exec-r${n}`, keys[`ns-${n[0]}`]!, urls, { EXECUTOR_LEASE_SECONDS: '2' }));
      const warmUp = Array.from({ length: 30 }, (_, n) => ({ id: randomUUID(), namespace: n % 3 === 2 ? 'ns-b' : 'ns-a' }));
      await submitAll(victim.url, warmUp);
      await eventually(
        'the warm-up done through the victim',
        () => doneCount(warmUp.map((q) => q.id)),
        (n) => n === warmUp.length,
        60_000,
      );
      // Idle now: every executor waits in a claim on the victim. Submitted through the survivor, the
      // first of these wake those claims; the victim dies while it is claiming and answering them.
      const queries = Array.from({ length: 200 }, (_, n) => ({ id: randomUUID(), namespace: n % 3 === 2 ? 'ns-b' : 'ns-a' }));
      const submitting = submitAll(broker.url, queries);
      await eventually(
        'claims under way',
        () => doneCount(queries.map((q) => q.id)),
        (n) => n >= 5,
        60_000,
      );
      victim.child.kill('SIGKILL');
      await victim.exited;
      await submitting;
      const ids = [...warmUp, ...queries].map((q) => q.id);
      // A query the victim assigned but could not answer waits for its 2 s lease, then runs again.
      await eventually(
        'every query done after the kill',
        () => doneCount(ids),
        (n) => n === ids.length,
        120_000,
      );
      // A transition the victim committed but died before appending reaches the log through the
      // survivor's sweeper, 5 s later.
      const rows = await eventually(
        'every completion in its session',
        () => outcomes(ids),
        (all) => all.every((q) => q.completed_events === 1),
        60_000,
      );
      for (const q of rows) {
        assert.equal(q.phase, 'done');
        assert.ok(q.assigned_executor.startsWith(`exec-r${q.namespace.slice(-1)}`), `${q.assigned_executor} ran ${q.query_id} of ${q.namespace}`);
        assert.equal(q.completed, 1, `${q.query_id} completed once`);
        assert.equal(q.completed_events, 1, `${q.query_id}: one query.completed in its session`);
      }
      // The executors live on: one more query is served through the survivor.
      const last = [{ id: randomUUID(), namespace: 'ns-b' }];
      await submitAll(broker.url, last);
      await eventually(
        'a query after the kill',
        () => doneCount([last[0]!.id]),
        (n) => n === 1,
        30_000,
      );
      await Promise.all(executors.map((c) => stopExecutor(c)));
    } finally {
      if (victim.child.exitCode === null && victim.child.signalCode === null) victim.child.kill('SIGKILL');
    }
  });
});
