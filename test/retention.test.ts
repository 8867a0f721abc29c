import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RowReaper } from '#ark/retention';
import { runCli } from './support/cli.js';
import { eventually } from './support/eventually.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const op = (session: string, query: string, reason: string, n: number, extra: Record<string, unknown> = {}) => ({
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, n)).toISOString(),
  eventType: 'Normal',
  reason,
  message: `${reason} ${n}`,
  data: { queryId: `${query}-uid`, queryName: query, queryNamespace: 'default', sessionId: session, n },
  ...extra,
});

async function postEvent(broker: TestBroker, body: unknown): Promise<void> {
  const res = await postJson(`${broker.url}/events`, body);
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

async function postMessages(broker: TestBroker, conversation: string, query: string, content: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await postJson(`${broker.url}/messages`, { conversation_id: conversation, query_id: query, messages: [{ role: 'user', content }], ...extra });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

const count = async (broker: TestBroker, sql: string, params: unknown[] = []) => Number((await broker.sql.query<{ n: string }>(sql, params)).rows[0]!.n);

describe('retention: upstream visibility TTLs, expiry and the reaper', () => {
  const retention = { MESSAGE_VISIBILITY_TTL_SECONDS: '2', EVENT_VISIBILITY_TTL_SECONDS: '2', SESSIONS_VISIBILITY_TTL_SECONDS: '3' };
  let broker: TestBroker;
  before(async () => {
    // Seconds, so the test can wait them out; the reaper is driven by hand (interval 0: no timer).
    // The query queue's upkeep runs every second (it keeps sessions of unfinished queries open).
    broker = await startTestBroker({ ...retention, ROW_REAP_INTERVAL_SECONDS: '0', QUERY_UPKEEP_INTERVAL_SECONDS: '1' });
  });
  after(() => broker.close());

  it('hides expired events, messages and sessions on every route at once; the reaper deletes them with their read models; a rebuild gives the same tables', async () => {
    // `short`: every row on the defaults. `kept`: a request's ttl_seconds keeps its rows (and so its session).
    await postEvent(broker, op('short', 'q-short', 'QueryExecutionStart', 1));
    await postEvent(broker, op('short', 'q-short', 'ToolCallStart', 2, { data: { ...op('short', 'q-short', '', 2).data, toolName: 't', toolId: 'c1' } }));
    await postEvent(broker, op('kept', 'q-kept', 'QueryExecutionStart', 3, { ttl_seconds: 3600 }));
    await postMessages(broker, 'conv-short', 'q-short', 'gone soon');
    await postMessages(broker, 'conv-kept', 'q-kept', 'kept', { ttl_seconds: '3600' });
    const sessionsOf = async (path: string) => ((await getJson(`${broker.url}${path}`)).body.items as any[]).map((s) => s.sessionId ?? s.id).sort();

    assert.equal((await getJson(`${broker.url}/events`)).body.items.length, 3);
    assert.equal((await getJson(`${broker.url}/messages`)).body.items.length, 2);
    assert.deepEqual(await sessionsOf('/sessions?limit=10'), ['kept', 'short']);
    assert.equal((await getJson(`${broker.url}/v2/sessions/short`)).status, 200);
    assert.equal((await getJson(`${broker.url}/v2/queries/q-short-uid`)).status, 200);

    await eventually(
      'the short rows to expire',
      () => getJson(`${broker.url}/events`),
      (r) => r.body.items.length === 1,
      10_000,
    );
    // Events expire after 2 s, their session a second later: between the two the session is empty.
    await eventually(
      'the short session to expire',
      () => getJson(`${broker.url}/v2/sessions/short`),
      (r) => r.status === 404,
      10_000,
    );
    assert.deepEqual(
      (await getJson(`${broker.url}/events`)).body.items.map((e: any) => e.data.sessionId),
      ['kept'],
    );
    assert.deepEqual(
      (await getJson(`${broker.url}/messages`)).body.items.map((m: any) => m.conversation_id),
      ['conv-kept'],
    );
    assert.deepEqual(await sessionsOf('/sessions?limit=10'), ['kept']);
    assert.deepEqual(Object.keys((await getJson(`${broker.url}/sessions`)).body.sessions), ['kept']);
    assert.deepEqual(await sessionsOf('/v2/sessions'), ['kept']);
    assert.equal((await getJson(`${broker.url}/v2/sessions/short/events`)).body?.items?.length ?? 0, 0);
    assert.equal((await getJson(`${broker.url}/v2/queries/q-short-uid`)).status, 404);
    assert.equal((await getJson(`${broker.url}/v2/queries/q-kept-uid`)).status, 200);
    assert.deepEqual(((await getJson(`${broker.url}/v2/tool-calls`)).body.items as any[]).length, 0, 'the expired session’s tool call is gone');
    assert.deepEqual(
      (await broker.sql.query<{ session_id: string }>('SELECT session_id FROM session_summaries ORDER BY 1')).rows.map((r) => r.session_id),
      ['kept'],
    );
    // A watch replaying the whole feed sees only what is still visible.
    const watch = new RecordingEventSource(`${broker.url}/v2/events?watch=true&cursor=0:0`);
    try {
      const [first] = await watch.waitFor(1);
      await sleep(300);
      assert.deepEqual(watch.messages.map((m) => m.data.sessionId).sort(), ['kept', 'kept']);
      assert.equal(first!.data.sessionId === 'short', false);
    } finally {
      watch.close();
    }

    // Still stored until the reaper runs.
    assert.equal(await count(broker, `SELECT count(*) AS n FROM events WHERE session_id IN ('short', 'conv-short')`), 3);
    // `ark-broker retention status` shows them waiting for the reaper.
    const status = await runCli(['retention', 'status'], { DATABASE_URL: broker.database.url, ...retention, ROW_REAP_INTERVAL_SECONDS: '0' });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /visibility: messages 2 s, events 2 s, sessions 3 s after their last event/);
    assert.match(status.stdout, /reaper: off/);
    assert.match(status.stdout, /^events\t\d+\.\d MiB$/m);
    assert.match(status.stdout, /^default\t2\/2\/3\t5\t\d{4}-\S+\t\d{4}-\S+\t3\t2\t1$/m, status.stdout);
    const report = await broker.app.get(RowReaper).reapOnce();
    assert.deepEqual(report, { events: 3, messages: 1, completions: 0, sessions: 1 });
    for (const table of ['events', 'event_streams', 'sessions', 'session_queries', 'queries', 'messages']) {
      assert.equal(await count(broker, `SELECT count(*) AS n FROM ${table} WHERE session_id IN ('short', 'conv-short')`), 0, table);
    }
    assert.equal(await count(broker, `SELECT count(*) AS n FROM tool_calls`), 0);
    assert.equal(await count(broker, `SELECT count(*) AS n FROM events`), 2, 'the kept event and message');
    assert.deepEqual(await broker.app.get(RowReaper).reapOnce(), { events: 0, messages: 0, completions: 0, sessions: 0 });

    const rebuilt = await runCli(['projections', 'rebuild'], { DATABASE_URL: broker.database.url, ...retention });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.match(rebuilt.stdout, / 0 rows changed/, 'replaying what is left gives the tables the reaper left');

    // Deletion tombstones never expire: a rebuild must find them while what they hide is kept.
    assert.equal((await fetch(`${broker.url}/events/q-kept-uid`, { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(`${broker.url}/messages`, { method: 'DELETE' })).status, 200);
    assert.deepEqual(
      (
        await broker.sql.query<{ type: string; never: boolean }>(
          `SELECT type, expires_at = 'infinity' AS never FROM events WHERE type LIKE '%.deleted' ORDER BY 1`,
        )
      ).rows,
      [
        { type: 'messages.deleted', never: true },
        { type: 'records.deleted', never: true },
      ],
    );

    // A session written again after it was reaped starts again, as a new session.
    await postEvent(broker, op('short', 'q-short', 'QueryExecutionStart', 9));
    const again = (await getJson(`${broker.url}/v2/sessions/short/events`)).body.items;
    assert.deepEqual(
      again.map((e: any) => e.sequence),
      [1],
    );
  });

  it("deletes a reaped session's finished query executions with it, so they never show again; a session holding unfinished ones stays open", async () => {
    const submit = async (queryId: string, sessionId: string) =>
      assert.equal(
        (
          await postJson(`${broker.url}/v2/queries`, {
            queryId,
            name: queryId,
            namespace: 'ns-reap',
            sessionId,
            target: { type: 'agent', name: 'a' },
            input: 'hi',
          })
        ).status,
        201,
      );
    const claim = async (executorId: string) =>
      (await postJson(`${broker.url}/v2/executors/${executorId}/claims`, { max: 1, namespaces: ['ns-reap'], leaseSeconds: 60 })).body.items.map(
        (q: { queryId: string }) => q.queryId,
      );
    const phase = async (queryId: string, executorId: string, to: string) => {
      const res = await postJson(`${broker.url}/v2/queries/${queryId}/phase`, { executorId, attempt: 1, phase: to, response: 'ok' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    const shown = async (path: string) => (await getJson(`${broker.url}${path}`)).status;

    // `exec-reaped` holds a finished query; `exec-working` one running and one waiting for an executor.
    await submit('q-finished', 'exec-reaped');
    assert.deepEqual(await claim('e-reap'), ['q-finished']);
    await phase('q-finished', 'e-reap', 'done');
    await submit('q-running', 'exec-working');
    assert.deepEqual(await claim('e-work'), ['q-running']);
    await phase('q-running', 'e-work', 'running');
    await submit('q-waiting', 'exec-working');
    await eventually(
      'both sessions',
      async () => [await shown('/v2/sessions/exec-reaped'), await shown('/v2/sessions/exec-working')],
      (s) => s.join() === '200,200',
    );

    // Past the sessions TTL: the finished session is hidden at once, the working one is kept open
    // (QUERY_UPKEEP_INTERVAL_SECONDS=1) however long its work lasts.
    await sleep(3_500);
    assert.equal(await shown('/v2/queries/q-finished'), 404);
    assert.equal(await shown('/v2/sessions/exec-reaped'), 404);
    for (let i = 0; i < 3; i++) {
      assert.equal(await shown('/v2/sessions/exec-working'), 200, `the working session past its TTL, check ${i + 1} of 3`);
      assert.equal(await shown('/v2/queries/q-waiting/execution'), 200);
      assert.equal(await shown('/v2/queries/q-running/execution'), 200);
      await sleep(1_000);
    }
    const report = await broker.app.get(RowReaper).reapOnce();
    assert.ok(report.sessions >= 1);
    const executions = async () =>
      (
        await broker.sql.query<{ query_id: string; phase: string }>(
          `SELECT e.query_id, e.phase FROM query_executions e WHERE e.session_id IN ('exec-reaped', 'exec-working') ORDER BY 1`,
        )
      ).rows;
    assert.deepEqual(await executions(), [
      { query_id: 'q-running', phase: 'running' },
      { query_id: 'q-waiting', phase: 'pending' },
    ]);
    assert.equal(await count(broker, `SELECT count(*) AS n FROM query_transitions WHERE query_id = 'q-finished'`), 0);
    assert.equal(await count(broker, `SELECT count(*) AS n FROM sessions WHERE session_id = 'exec-working'`), 1);
    // Its session row is gone too: the finished query stays hidden (it showed again when only the session was deleted).
    assert.equal(await shown('/v2/queries/q-finished'), 404);
    const listed = (await getJson(`${broker.url}/v2/queries?namespace=ns-reap`)).body.items.map((q: { queryId: string }) => q.queryId);
    assert.deepEqual(listed.sort(), ['q-running', 'q-waiting']);

    // The work ends: the session expires a TTL after its last transition, and goes with its queries.
    await phase('q-running', 'e-work', 'done');
    assert.equal((await postJson(`${broker.url}/v2/queries/q-waiting/cancel`, {})).status, 200);
    await eventually(
      'the last transitions in the log',
      () => count(broker, `SELECT count(*) AS n FROM events WHERE session_id = 'exec-working' AND type IN ('query.completed', 'query.canceled')`),
      (n) => n === 2,
    );
    // Within the TTL plus what the last upkeep gave (four intervals).
    await eventually(
      'the session to expire',
      () => shown('/v2/sessions/exec-working'),
      (s) => s === 404,
      10_000,
    );
    await broker.app.get(RowReaper).reapOnce();
    assert.deepEqual(await executions(), []);
    assert.equal(await count(broker, `SELECT count(*) AS n FROM sessions WHERE session_id = 'exec-working'`), 0);
  });
});

describe('retention: reaping while ingesting, on two replicas', () => {
  let first: TestBroker;
  let second: TestBroker;
  const env = {
    EVENT_VISIBILITY_TTL_SECONDS: '1',
    MESSAGE_VISIBILITY_TTL_SECONDS: '1',
    SESSIONS_VISIBILITY_TTL_SECONDS: '1',
    ROW_REAP_INTERVAL_SECONDS: '0',
    ROW_REAP_BATCH_SIZE: '7',
  };
  before(async () => {
    first = await startTestBroker(env);
    second = await startTestBroker(env, first.database);
  });
  after(async () => {
    await second.close();
    await first.close();
  });

  it('loses no acknowledged unexpired event and leaves no gap in a kept session', async () => {
    const kept = ['kept-1', 'kept-2', 'kept-3'];
    const brief = ['brief-1', 'brief-2', 'brief-3'];
    const acknowledged = new Map<string, { n: number; sentAt: number }[]>();
    let n = 0;
    let writing = true;
    const writer = async (broker: TestBroker, session: string, ttl?: number) => {
      while (writing) {
        const sentAt = Date.now();
        const body = op(session, `q-${session}`, 'ProgressNote', ++n, ttl === undefined ? {} : { ttl_seconds: ttl });
        await postEvent(broker, body);
        acknowledged.set(session, [...(acknowledged.get(session) ?? []), { n: body.data.n, sentAt }]);
      }
    };
    const reaps = { events: 0, sessions: 0 };
    const reaper = async (broker: TestBroker) => {
      while (writing) {
        const r = await broker.app.get(RowReaper).reapOnce();
        reaps.events += r.events;
        reaps.sessions += r.sessions;
        await sleep(20);
      }
    };
    const work = [
      ...kept.map((s, i) => writer(i % 2 ? first : second, s, 3600)),
      ...brief.map((s, i) => writer(i % 2 ? second : first, s)),
      reaper(first),
      reaper(second),
    ];
    // Let the brief sessions' early events expire and be reaped while writes go on.
    await sleep(3_000);
    writing = false;
    await Promise.all(work);
    const checkedAt = Date.now();
    const { rows } = await first.sql.query<{ session_id: string; sequence: string; n: number }>(
      `SELECT session_id, sequence, (data->'operationEvent'->'data'->>'n')::int AS n FROM events ORDER BY session_id, sequence`,
    );
    console.log(`# ${[...acknowledged.values()].reduce((a, b) => a + b.length, 0)} writes; reaped ${reaps.events} events, ${reaps.sessions} sessions`);
    assert.ok(reaps.events > 0, 'the reapers deleted expired events while the writers wrote');

    for (const session of kept) {
      const stored = rows.filter((r) => r.session_id === session);
      const sent = acknowledged.get(session)!;
      assert.ok(sent.length > 2, `${session}: ${sent.length} writes`);
      assert.deepEqual(
        stored.map((r) => Number(r.sequence)),
        sent.map((_, i) => i + 1),
        `${session}: sequences 1..N, no gap`,
      );
      assert.deepEqual(
        stored.map((r) => r.n),
        sent.map((s) => s.n),
      );
      const page = (await getJson(`${first.url}/v2/sessions/${session}/events?limit=1000`)).body.items;
      assert.equal(page.length, sent.length);
    }
    for (const session of brief) {
      const stored = new Set(rows.filter((r) => r.session_id === session).map((r) => r.n));
      // An event may be gone only once it expired: its request was sent at least its TTL (1 s) ago.
      const lost = acknowledged.get(session)!.filter((s) => !stored.has(s.n) && s.sentAt > checkedAt - 1_000);
      assert.deepEqual(lost, [], `${session}: acknowledged events that had not expired`);
      const sequences = rows.filter((r) => r.session_id === session).map((r) => Number(r.sequence));
      assert.equal(new Set(sequences).size, sequences.length, `${session}: each sequence once`);
    }
  });
});

describe('retention: the reaper runs on its own every ROW_REAP_INTERVAL_SECONDS', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({
      EVENT_VISIBILITY_TTL_SECONDS: '1',
      MESSAGE_VISIBILITY_TTL_SECONDS: '1',
      SESSIONS_VISIBILITY_TTL_SECONDS: '1',
      ROW_REAP_INTERVAL_SECONDS: '1',
    });
  });
  after(() => broker.close());

  it('deletes an expired session without being asked', async () => {
    await postEvent(broker, op('timed', 'q-timed', 'QueryExecutionStart', 1));
    await postMessages(broker, 'timed-conv', 'q-timed', 'hello');
    assert.equal(await count(broker, `SELECT count(*) AS n FROM events`), 2);
    await eventually(
      'the reaper to delete everything',
      async () => (await count(broker, 'SELECT count(*) AS n FROM events')) + (await count(broker, 'SELECT count(*) AS n FROM sessions')),
      (left) => left === 0,
      10_000,
    );
  });
});

describe('retention: per tenant (PUT /v2/retention, `ark-broker retention set`)', () => {
  const defaults = { MESSAGE_VISIBILITY_TTL_SECONDS: '3600', EVENT_VISIBILITY_TTL_SECONDS: '3600', SESSIONS_VISIBILITY_TTL_SECONDS: '3600' };
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({
      ...defaults,
      AUTH_MODE: 'header',
      AUTH_TRUSTED_PROXIES: '127.0.0.1/32,::1,::ffff:127.0.0.1',
      ROW_REAP_INTERVAL_SECONDS: '0',
    });
  });
  after(() => broker.close());
  const as = (tenant: string, roles: string) => ({ 'x-ark-tenant': tenant, 'x-ark-user': `${tenant}-user`, 'x-ark-roles': roles });
  const put = async (headers: Record<string, string>, body: unknown) => {
    const res = await fetch(`${broker.url}/v2/retention`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const ttlOf = async (tenant: string) =>
    (
      await broker.sql.query<{ s: number }>('SELECT DISTINCT round(extract(epoch FROM expires_at - recorded_at))::int AS s FROM events WHERE tenant_id = $1', [
        tenant,
      ])
    ).rows.map((r) => r.s);

  it("a tenant's admin sets its own TTLs, which new events of that tenant alone use; checked as start-up checks the settings", async () => {
    const reader = as('acme', 'producer,reader');
    const admin = as('acme', 'admin');
    const initial = await getJson(`${broker.url}/v2/retention`, reader);
    assert.deepEqual(initial.body, {
      tenantId: 'acme',
      messageTtlSeconds: 3600,
      eventTtlSeconds: 3600,
      sessionsTtlSeconds: 3600,
      overrides: { messageTtlSeconds: null, eventTtlSeconds: null, sessionsTtlSeconds: null },
    });
    assert.equal((await put(reader, { eventTtlSeconds: 1 })).status, 403);
    const refused = await put(admin, { eventTtlSeconds: 7200 });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'validation_failed');
    assert.match(refused.body.error.message, /sessionsTtlSeconds 3600: must be at least .*7200/);
    assert.equal((await put(admin, { eventTtlSeconds: 0 })).status, 400);

    const set = await put(admin, { messageTtlSeconds: 1, eventTtlSeconds: 1, sessionsTtlSeconds: 1 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual([set.body.messageTtlSeconds, set.body.eventTtlSeconds, set.body.sessionsTtlSeconds], [1, 1, 1]);

    await postJson(`${broker.url}/events`, op('acme-session', 'q-acme', 'QueryExecutionStart', 1), reader);
    await postJson(`${broker.url}/events`, op('globex-session', 'q-globex', 'QueryExecutionStart', 1), as('globex', 'producer,reader'));
    assert.deepEqual(await ttlOf('acme'), [1]);
    assert.deepEqual(await ttlOf('globex'), [3600]);
    await eventually(
      "acme's session to expire",
      () => getJson(`${broker.url}/v2/sessions/acme-session`, admin),
      (r) => r.status === 404,
      10_000,
    );
    assert.equal((await getJson(`${broker.url}/v2/sessions/globex-session`, as('globex', 'admin'))).status, 200);
    assert.deepEqual(await broker.app.get(RowReaper).reapOnce(), { events: 1, messages: 0, completions: 0, sessions: 1 });

    // Back to the broker's settings.
    assert.deepEqual((await put(admin, {})).body.overrides, { messageTtlSeconds: null, eventTtlSeconds: null, sessionsTtlSeconds: null });
    await postJson(`${broker.url}/events`, op('acme-session', 'q-acme', 'QueryExecutionStart', 2), reader);
    assert.deepEqual(await ttlOf('acme'), [3600]);
  });

  it('`ark-broker retention set` sets a tenant from the command line, refusing what start-up would refuse', async () => {
    const env = { DATABASE_URL: broker.database.url, ...defaults };
    const refused = await runCli(['retention', 'set', '--tenant', 'globex', '--events', '7200'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /sessionsTtlSeconds 3600: must be at least/);
    const set = await runCli(['retention', 'set', '--tenant', 'globex', '--messages', '60', '--events', '60', '--sessions', '120'], env);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout.trim(), 'globex: messages 60 s, events 60 s, sessions 120 s');
    assert.deepEqual((await getJson(`${broker.url}/v2/retention`, as('globex', 'reader'))).body.overrides, {
      messageTtlSeconds: 60,
      eventTtlSeconds: 60,
      sessionsTtlSeconds: 120,
    });
    const status = await runCli(['retention', 'status'], env);
    assert.match(status.stdout, /^globex\t60\/60\/120 \(own\)\t1\t/m, status.stdout);
  });
});
