import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from './support/cli.js';
import { fixtureJson } from './support/fixtures.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

/** Same keys (recursively) and the same JSON types as the fixture; arrays: every item like the fixture's first. */
function assertShape(actual: unknown, fixture: unknown, path = '$'): void {
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  assert.equal(kind(actual), kind(fixture), `${path}: ${kind(actual)} instead of ${kind(fixture)}`);
  if (Array.isArray(fixture)) {
    assert.ok((actual as unknown[]).length > 0, `${path}: empty, cannot compare with the fixture`);
    (actual as unknown[]).forEach((item, i) => assertShape(item, fixture[0], `${path}[${i}]`));
  } else if (kind(fixture) === 'object') {
    const a = actual as Record<string, unknown>;
    const f = fixture as Record<string, unknown>;
    assert.deepEqual(Object.keys(a).sort(), Object.keys(f).sort(), `${path}: keys`);
    for (const key of Object.keys(f)) assertShape(a[key], f[key], `${path}.${key}`);
  }
}

async function request(method: string, url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
}

const post = (broker: TestBroker, conversationId: string, queryId: string, messages: unknown[], extra: Record<string, unknown> = {}) =>
  postJson(`${broker.url}/messages`, { conversation_id: conversationId, query_id: queryId, messages, ...extra });

const contents = (items: any[]) => items.map((i) => i.message.content);

const MESSAGES_SQL = `SELECT tenant_id, global_position, session_id, conversation_id, query_id, user_id, message, recorded_at, expires_at
                      FROM messages ORDER BY tenant_id, global_position`;

describe('memory API (messages and conversations)', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ SSE_HEARTBEAT_MS: '200' });
  });
  after(() => broker.close());

  it('stores the fixture POST /messages: 200 with an empty body, each message one message.added event', async () => {
    const body = fixtureJson('memory-api-post-messages-request.json');
    const res = await fetch(`${broker.url}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('content-type'), null);

    const conversation = await getJson(`${broker.url}/conversations/${body.conversation_id}`);
    assert.equal(conversation.status, 200);
    assertShape(conversation.body, fixtureJson('memory-api-get-conversation-response.json'));
    assert.equal(conversation.body.conversation_id, body.conversation_id);
    assert.deepEqual(
      conversation.body.messages.map((m: any) => m.message),
      body.messages,
    );
    const stored = conversation.body.messages;
    assert.ok(stored.length >= 2, 'the fixture posts several messages');
    for (const [i, m] of stored.entries()) {
      assert.equal(m.query_id, body.query_id);
      assert.match(m.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      if (i > 0) assert.ok(m.sequence > stored[i - 1].sequence, 'sequence increases');
    }

    // No session knows the fixture's query: the messages went to the conversation's session, in the log.
    const events = (await getJson(`${broker.url}/v2/sessions/${body.conversation_id}/events`)).body.items;
    assert.deepEqual(
      events.map((e: any) => [e.type, e.source, e.data.index, e.globalPosition]),
      stored.map((m: any, i: number) => ['message.added', 'message', i, m.sequence]),
    );
    assert.deepEqual(events[0].data, {
      conversationId: body.conversation_id,
      queryId: body.query_id,
      message: body.messages[0],
      index: 0,
      ttlSeconds: body.ttl_seconds,
    });
  });

  it('answers GET /messages in the upstream envelope, and pages by numeric cursor', async () => {
    const conversation = 'paging';
    await post(
      broker,
      conversation,
      'q-page-1',
      Array.from({ length: 15 }, (_, i) => ({ role: 'user', content: `m${i}` })),
    );
    await post(
      broker,
      conversation,
      'q-page-2',
      Array.from({ length: 10 }, (_, i) => ({ role: 'assistant', content: `m${15 + i}` })),
    );

    const first = await getJson(`${broker.url}/messages?conversation_id=${conversation}&limit=1`);
    assert.equal(first.status, 200);
    assertShape(first.body, fixtureJson('broker-get-messages-response.json'));
    assert.equal(first.body.total, 25);

    const seen: any[] = [];
    let cursor: number | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await getJson(`${broker.url}/messages?conversation_id=${conversation}&limit=10${cursor === undefined ? '' : `&cursor=${cursor}`}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.total, 25, 'total ignores the cursor');
      seen.push(...res.body.items);
      if (!res.body.hasMore) {
        assert.equal('nextCursor' in res.body, false, 'no nextCursor on the last page');
        break;
      }
      assert.equal(res.body.nextCursor, res.body.items.at(-1).sequence);
      cursor = res.body.nextCursor;
    }
    assert.deepEqual(
      contents(seen),
      Array.from({ length: 25 }, (_, i) => `m${i}`),
    );
    assert.deepEqual(
      seen.map((m) => m.sequence),
      [...seen.map((m) => m.sequence)].sort((a, b) => a - b),
    );

    const byQuery = await getJson(`${broker.url}/messages?query_id=q-page-2&conversation_id=`);
    assert.deepEqual(
      contents(byQuery.body.items),
      Array.from({ length: 10 }, (_, i) => `m${15 + i}`),
    );
    assert.equal(byQuery.body.total, 10);
    assert.equal((await getJson(`${broker.url}/messages?conversation_id=${conversation}&limit=10abc`)).body.items.length, 10, 'parseInt, as upstream');
  });

  it('refuses bad pagination and bad bodies with 400, and ignores unknown fields', async () => {
    for (const [query, message] of [
      ['limit=1001', 'limit cannot exceed 1000'],
      ['limit=0', 'limit must be a positive integer'],
      ['limit=abc', 'limit must be a positive integer'],
      ['cursor=-1', 'cursor must be a non-negative integer'],
      ['cursor=1.5', 'cursor must be a non-negative integer'],
      ['watch=yes', 'watch'],
    ] as const) {
      const res = await getJson(`${broker.url}/messages?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(res.body.error.message, new RegExp(message), query);
      assert.ok(res.body.error.requestId);
    }
    for (const [body, field] of [
      [{ query_id: 'q', messages: [] }, 'conversation_id'],
      [{ conversation_id: 'c', messages: [] }, 'query_id'],
      [{ conversation_id: 'c', query_id: 'q', messages: 'hello' }, 'messages'],
      [{ conversation_id: 1, query_id: 'q', messages: [] }, 'conversation_id'],
      [{ conversation_id: 'c', query_id: 'q', messages: [], ttl_seconds: 0 }, 'ttl_seconds'],
      [[{ conversation_id: 'c', query_id: 'q', messages: [] }], 'body'],
    ] as const) {
      const res = await postJson(`${broker.url}/messages`, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.body.error.message, new RegExp(field));
    }
    const lenient = await post(broker, 'lenient', '', [{ role: 'user', content: 'hi' }], { extra: 'ignored' });
    assert.equal(lenient.status, 200);
    assert.equal((await getJson(`${broker.url}/conversations/lenient`)).body.messages.length, 1);
  });

  it('stores a retried POST once; without a query id, as often as it is posted (as upstream)', async () => {
    const messages = [
      { role: 'user', content: 'retry me' },
      { role: 'assistant', content: 'ok' },
    ];
    for (let i = 0; i < 3; i++) assert.equal((await post(broker, 'retries', 'q-retry', messages)).status, 200);
    await Promise.all([post(broker, 'retries', 'q-retry', messages), post(broker, 'retries', 'q-retry', messages)]);
    assert.deepEqual(contents((await getJson(`${broker.url}/conversations/retries`)).body.messages), ['retry me', 'ok']);

    // The same query posting different messages is a new request.
    await post(broker, 'retries', 'q-retry', [{ role: 'user', content: 'next turn' }]);
    // Nothing tells a retry from a repeated message without a query id.
    await post(broker, 'retries', '', [{ role: 'user', content: 'yes' }]);
    await post(broker, 'retries', '', [{ role: 'user', content: 'yes' }]);
    assert.deepEqual(contents((await getJson(`${broker.url}/conversations/retries`)).body.messages), ['retry me', 'ok', 'next turn', 'yes', 'yes']);
    const { rows } = await broker.sql.query("SELECT count(*)::int AS n FROM events WHERE type = 'message.added' AND session_id = 'retries'");
    assert.equal(rows[0].n, 5);
  });

  it("files messages under the session of the query's operation events (Ark posts the query name), and a retry where its first copy went", async () => {
    const messages = [{ role: 'user', content: 'owned?' }];
    // Posted before the broker knows the query: the conversation's session.
    await post(broker, 'conv-owned', 'weather-query', messages);
    const operationEvent = {
      timestamp: '2026-01-01T00:00:00.000Z',
      eventType: 'Normal',
      reason: 'QueryExecutionStart',
      message: 'started',
      data: { queryId: 'uid-1234', queryName: 'weather-query', queryNamespace: 'default', sessionId: 'owner-session' },
    };
    assert.equal((await postJson(`${broker.url}/events`, operationEvent)).status, 201);
    // The retry of that first request must not be stored again in the owner's session.
    await post(broker, 'conv-owned', 'weather-query', messages);
    await post(broker, 'conv-owned', 'weather-query', [{ role: 'assistant', content: 'yes, owned' }]);

    assert.deepEqual(contents((await getJson(`${broker.url}/conversations/conv-owned`)).body.messages), ['owned?', 'yes, owned']);
    const owner = (await getJson(`${broker.url}/v2/sessions/owner-session/events`)).body.items;
    const added = owner.find((e: any) => e.type === 'message.added');
    assert.deepEqual([added.queryId, added.queryName, added.namespace, added.data.message.content], ['uid-1234', 'weather-query', 'default', 'yes, owned']);
    // Upstream items keep the query id as posted.
    assert.equal((await getJson(`${broker.url}/messages?query_id=weather-query`)).body.total, 2);
  });

  it('creates conversation ids, lists conversations and memory status like the fixtures', async () => {
    await request('DELETE', `${broker.url}/messages`);
    // Ark's Go client sends the JSON content type with no body.
    const created = await fetch(`${broker.url}/conversations`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '0' } });
    assert.equal(created.status, 201);
    const { conversation_id: id } = (await created.json()) as any;
    assertShape({ conversation_id: id }, fixtureJson('memory-api-post-conversations-response.json'));
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Nothing is stored until messages arrive.
    assert.equal((await getJson(`${broker.url}/conversations/${id}`)).status, 404);

    await post(broker, 'conv-b', 'q1', [{ role: 'user', content: 'b1' }]);
    await post(broker, id, 'q1', [
      { role: 'user', content: 'a1' },
      { role: 'assistant', content: 'a2' },
    ]);
    await post(broker, 'conv-b', 'q2', [
      { role: 'user', content: 'b2' },
      { role: 'assistant', content: 'b3' },
    ]);

    const list = await getJson(`${broker.url}/conversations`);
    assertShape(list.body, fixtureJson('memory-api-list-conversations-response.json'));
    assert.deepEqual(list.body, { conversations: ['conv-b', id] });

    const status = await getJson(`${broker.url}/memory-status`);
    // `conversations` is keyed by conversation id: every entry is shaped like the fixture's one.
    const statusFixture = fixtureJson('broker-memory-status-response.json');
    assertShape({ ...status.body, conversations: {} }, { ...statusFixture, conversations: {} });
    for (const entry of Object.values(status.body.conversations)) assertShape(entry, Object.values(statusFixture.conversations)[0]);
    assert.deepEqual(status.body, {
      total_conversations: 2,
      total_messages: 5,
      conversations: { 'conv-b': { message_count: 3, query_count: 2 }, [id]: { message_count: 2, query_count: 1 } },
    });

    const missing = await getJson(`${broker.url}/conversations/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual([missing.body.error.code, missing.body.error.message], ['NOT_FOUND', 'Conversation not found']);
  });

  it('deletes by tombstone, scoped as upstream: the log keeps every event and a rebuild gives the same table', async () => {
    await request('DELETE', `${broker.url}/messages`);
    const eventsBefore = (await broker.sql.query('SELECT count(*)::int AS n FROM events')).rows[0].n;
    await post(broker, 'd1', 'qa', [{ content: 'd1-qa' }]);
    await post(broker, 'd1', 'qb', [{ content: 'd1-qb' }]);
    await post(broker, 'd2', 'qa', [{ content: 'd2-qa' }]);
    await post(broker, 'd2', 'qc', [{ content: 'd2-qc' }]);
    await post(broker, 'd3', 'qd', [{ content: 'd3-qd' }]);
    const all = async () => contents((await getJson(`${broker.url}/messages`)).body.items);
    assert.deepEqual(await all(), ['d1-qa', 'd1-qb', 'd2-qa', 'd2-qc', 'd3-qd']);

    const byQuery = await request('DELETE', `${broker.url}/queries/qa/messages`);
    assert.equal(byQuery.status, 200);
    assertShape(byQuery.body, fixtureJson('memory-api-delete-query-messages-response.json'));
    assert.deepEqual(byQuery.body, { status: 'success', message: 'Query qa messages deleted' });
    assert.deepEqual(await all(), ['d1-qb', 'd2-qc', 'd3-qd']);

    assert.deepEqual((await request('DELETE', `${broker.url}/conversations/d2/queries/qc/messages`)).body, {
      status: 'success',
      message: 'Query qc messages deleted from conversation d2',
    });
    assert.deepEqual(await all(), ['d1-qb', 'd3-qd']);
    assert.equal((await getJson(`${broker.url}/conversations/d2`)).status, 404);

    // Clients may send the JSON content type with no body on DELETE too.
    const one = await request('DELETE', `${broker.url}/conversations/d1`, { 'content-type': 'application/json', 'content-length': '0' });
    assert.deepEqual(one.body, { status: 'success', message: 'Conversation d1 deleted' });
    assert.deepEqual((await request('DELETE', `${broker.url}/conversations/absent`)).body, { status: 'success', message: 'Conversation absent deleted' });
    assert.deepEqual(await all(), ['d3-qd']);

    // A message posted after a deletion is kept.
    await post(broker, 'd1', 'qa', [{ content: 'after' }]);
    assert.deepEqual(await all(), ['d3-qd', 'after']);

    const live = (await broker.sql.query(MESSAGES_SQL)).rows;
    await broker.sql.query('DELETE FROM messages'); // lose the read model, to see the rebuild restore it
    const rebuilt = await runCli(['projections', 'rebuild'], { DATABASE_URL: broker.database.url });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.deepEqual((await broker.sql.query(MESSAGES_SQL)).rows, live);

    assert.deepEqual((await request('DELETE', `${broker.url}/conversations`)).body, { status: 'success', message: 'All conversations deleted' });
    assert.deepEqual(await all(), []);
    await post(broker, 'd4', 'qe', [{ content: 'd4' }]);
    assert.deepEqual((await request('DELETE', `${broker.url}/messages`)).body, { status: 'success', message: 'Memory purged' });
    const empty = await getJson(`${broker.url}/messages`);
    assert.deepEqual(empty.body, { items: [], total: 0, hasMore: false });
    assert.deepEqual((await getJson(`${broker.url}/memory-status`)).body, { total_conversations: 0, total_messages: 0, conversations: {} });

    // Nothing was removed from the log: 7 messages and 6 tombstones appended, sequences gap-free.
    const eventsAfter = (await broker.sql.query('SELECT count(*)::int AS n FROM events')).rows[0].n;
    assert.equal(eventsAfter - eventsBefore, 7 + 6);
    const gaps = await broker.sql.query(`SELECT session_id FROM events GROUP BY tenant_id, session_id HAVING max(sequence) <> count(*)`);
    assert.equal(gaps.rowCount, 0);
  });

  it('keeps deletions and concurrent posts consistent with a rebuild (which replays the purges above too)', async () => {
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        i % 6 === 5
          ? request('DELETE', `${broker.url}/queries/race-q${i % 3}/messages`)
          : post(broker, `race-${i % 4}`, `race-q${i % 3}`, [{ content: `r${i}` }, { content: `r${i}b` }]),
      ),
    );
    const live = (await broker.sql.query(MESSAGES_SQL)).rows;
    assert.equal((await runCli(['projections', 'rebuild'], { DATABASE_URL: broker.database.url })).code, 0);
    assert.deepEqual((await broker.sql.query(MESSAGES_SQL)).rows, live);
  });

  it('hides messages past their ttl_seconds', async () => {
    await post(broker, 'ttl', 'q-ttl', [{ content: 'short' }], { ttl_seconds: 1 });
    await post(broker, 'ttl', 'q-ttl-long', [{ content: 'long' }], { ttl_seconds: '3600' });
    assert.deepEqual(contents((await getJson(`${broker.url}/conversations/ttl`)).body.messages), ['short', 'long']);
    await sleep(1100);
    assert.deepEqual(contents((await getJson(`${broker.url}/conversations/ttl`)).body.messages), ['long']);
    assert.equal((await getJson(`${broker.url}/messages?conversation_id=ttl`)).body.total, 1);
  });

  it('streams messages (SSE): `: connected` first, one item per frame with a tx:pos id, conversation filter', async () => {
    const res = await fetch(`${broker.url}/messages?watch=true`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes(': connected')) text += new TextDecoder().decode((await reader.read()).value);
    assert.match(text, /^(retry: \d+\n\n)?: connected\n\n/);
    await reader.cancel();

    const watcher = new RecordingEventSource(`${broker.url}/messages?watch=true&conversation_id=watched&query_id=ignored`);
    await watcher.opened;
    await sleep(100);
    await post(broker, 'watched', 'q-w1', [{ content: 'w1' }, { content: 'w2' }]);
    await post(broker, 'not-watched', 'q-w1', [{ content: 'other' }]);
    await post(broker, 'watched', 'q-w2', [{ content: 'w3' }]);
    const got = await watcher.waitFor(3);
    await sleep(200);
    watcher.close();
    assert.deepEqual(contents(got.map((m) => m.data)), ['w1', 'w2', 'w3']);
    const stored = (await getJson(`${broker.url}/conversations/watched`)).body.messages;
    assert.deepEqual(
      got.map((m) => m.data),
      stored,
    );
    for (const m of got) assert.match(m.id, new RegExp(`^\\d+:${m.data.sequence}$`));
  });

  it('resumes from Last-Event-ID with exactly the missing messages, and replays from ?cursor= as upstream', async () => {
    const first = new RecordingEventSource(`${broker.url}/messages?watch=true&conversation_id=resume`);
    await first.opened;
    await sleep(100);
    await post(broker, 'resume', 'q-r', [{ content: 'r1' }, { content: 'r2' }]);
    const seen = await first.waitFor(2);
    first.close();

    await post(broker, 'resume', 'q-r2', [{ content: 'r3' }, { content: 'r4' }]);
    await post(broker, 'resume', 'q-r3', [{ content: 'r5' }]);
    await request('DELETE', `${broker.url}/conversations/resume/queries/q-r3/messages`);
    await post(broker, 'resume', 'q-r4', [{ content: 'r6' }]);

    const resumed = new RecordingEventSource(`${broker.url}/messages?watch=true&conversation_id=resume`, { 'Last-Event-ID': seen[1]!.id });
    // r5 was deleted while we were away: not replayed, as the table no longer has it.
    assert.deepEqual(contents((await resumed.waitFor(3)).map((m) => m.data)), ['r3', 'r4', 'r6']);
    await post(broker, 'resume', 'q-r5', [{ content: 'r7' }]);
    await resumed.waitFor(4);
    await sleep(200);
    assert.deepEqual(contents(resumed.messages.map((m) => m.data)), ['r3', 'r4', 'r6', 'r7']);
    resumed.close();

    // Upstream's numeric cursor: the messages with a higher sequence first, then live ones.
    const replay = new RecordingEventSource(`${broker.url}/messages?watch=true&conversation_id=resume&cursor=${seen[0]!.data.sequence}`);
    assert.deepEqual(contents((await replay.waitFor(5)).map((m) => m.data)), ['r2', 'r3', 'r4', 'r6', 'r7']);
    await post(broker, 'resume', 'q-r6', [{ content: 'r8' }]);
    await replay.waitFor(6);
    await sleep(200);
    assert.deepEqual(contents(replay.messages.map((m) => m.data)), ['r2', 'r3', 'r4', 'r6', 'r7', 'r8']);
    replay.close();

    const fromZero = new RecordingEventSource(`${broker.url}/messages?watch=true&conversation_id=resume&cursor=0`);
    assert.equal((await fromZero.waitFor(7)).length, 7);
    fromZero.close();

    const bad = await getJson(`${broker.url}/messages?watch=true`, { 'Last-Event-ID': 'nonsense' });
    assert.equal(bad.status, 400);
  });
});
