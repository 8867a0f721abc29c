import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  applyQueryMessage,
  applyQuerySignal,
  applySessionQueryEvent,
  phaseOfReason,
  sessionStatus,
  type QuerySignal,
  type SessionQuery,
} from '#ark/projections';
import { runCli } from './support/cli.js';
import { fixtureJson } from './support/fixtures.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const signal = (reason: string, s: number, extra: Partial<QuerySignal> = {}): QuerySignal => ({ reason, queryName: 'q', at: at(s), sequence: s, ...extra });
const run = (...signals: QuerySignal[]) => signals.reduce<SessionQuery | undefined>((q, s) => applyQuerySignal(q, s), undefined)!;

describe('upstream session rules (table-driven)', () => {
  it('maps reasons to phases', () => {
    const cases: [string, unknown, string][] = [
      ['QueryExecutionComplete', undefined, 'done'],
      ['QueryExecutionComplete', 'boom', 'error'],
      ['QueryExecutionCanceled', undefined, 'canceled'],
      ['ToolCallError', undefined, 'error'],
      ['QueryExecutionStart', undefined, 'running'],
      ['LLMCallComplete', undefined, 'running'],
      ['MemoryAddMessagesComplete', undefined, 'running'],
    ];
    for (const [reason, error, phase] of cases) assert.equal(phaseOfReason(reason, error), phase, reason);
  });

  it('applies the transitions in order', () => {
    const cases: [string, QuerySignal[], string, unknown][] = [
      ['done after start', [signal('QueryExecutionStart', 1), signal('QueryExecutionComplete', 2)], 'done', null],
      ['error wins over done', [signal('QueryExecutionComplete', 1), signal('ToolCallError', 2, { error: 'x' })], 'error', 'x'],
      ['error wins over canceled', [signal('QueryExecutionCanceled', 1), signal('LLMCallError', 2, { error: 'y' })], 'error', 'y'],
      ['a later done clears error', [signal('ToolCallError', 1, { error: 'paused' }), signal('QueryExecutionComplete', 2)], 'done', null],
      ['canceled never overrides error', [signal('ToolCallError', 1, { error: 'e' }), signal('QueryExecutionCanceled', 2)], 'error', 'e'],
      ['done does not undo canceled', [signal('QueryExecutionCanceled', 1), signal('QueryExecutionComplete', 2)], 'canceled', null],
      ['running never reopens', [signal('QueryExecutionComplete', 1), signal('AgentExecutionStart', 2)], 'done', null],
    ];
    for (const [label, signals, phase, error] of cases) {
      const q = run(...signals);
      assert.equal(q.phase, phase, label);
      assert.deepEqual(q.error, error, label);
    }
    const q = run(
      signal('QueryExecutionStart', 1, { agent: 'a1' }),
      signal('AgentExecutionStart', 2, { agent: 'a2', conversationId: 'c1', targetType: 'team' }),
    );
    assert.equal(q.agent, 'a1', 'first write wins');
    assert.equal(q.conversationId, 'c1');
    assert.equal(q.targetType, 'team', 'the default target type is replaced');
    assert.equal(q.createdAt.getTime(), at(1).getTime());
    assert.equal(q.lastActivityAt.getTime(), at(2).getTime());
  });

  it('derives the session status', () => {
    const done = run(signal('QueryExecutionComplete', 5, { queryName: 'a' }));
    const failed = run(signal('ToolCallError', 6, { queryName: 'b' }));
    const running = run(signal('QueryExecutionStart', 1, { queryName: 'c' }));
    assert.equal(sessionStatus([done, running]), 'active');
    assert.equal(sessionStatus([done, failed]), 'error', 'the latest query failed');
    assert.equal(sessionStatus([failed, run(signal('QueryExecutionComplete', 9, { queryName: 'd' }))]), 'idle');
    assert.equal(sessionStatus([]), 'idle');
  });

  // Upstream 0.1.69's per-query watermarks: a signal is applied through applySessionQueryEvent in the order it is projected.
  const applied = (...signals: QuerySignal[]) => signals.reduce<SessionQuery | undefined>((q, s) => applySessionQueryEvent(q, s), undefined)!;

  it('#3004: an out-of-order event changes no phase and elects nothing; it only fills empty fields', () => {
    const q = applied(
      signal('QueryExecutionStart', 1),
      signal('ToolCallError', 3, { error: 'real failure' }),
      signal('QueryExecutionComplete', 2, { agent: 'late-agent' }),
    );
    assert.equal(q.phase, 'error', 'an older done does not erase a newer error');
    assert.equal(q.error, 'real failure');
    assert.equal(q.lastSequence, 3, 'the stale event is not the query activity');
    assert.equal(q.lastActivityAt.getTime(), at(3).getTime());
    assert.equal(q.agent, 'late-agent', 'first-write-wins fields are order-independent, so a stale event still fills them');
    const replayed = applySessionQueryEvent(q, signal('ToolCallError', 3, { error: 'real failure' }));
    assert.deepEqual(replayed, q, 'a replayed event changes nothing');
  });

  it('#3209: a reordered non-terminal event with a higher sequence does not drop the terminal phase', () => {
    const q = applied(signal('QueryExecutionStart', 1), signal('AgentExecutionComplete', 6), signal('QueryExecutionComplete', 5));
    assert.equal(q.phase, 'done', 'done is applied although a later-sequenced event was applied first');
    assert.equal(q.completedAt?.getTime(), at(5).getTime());
    assert.equal(q.phaseSequence, 5);
    assert.equal(q.lastSequence, 6, 'the reordered terminal event does not re-elect the query');
    assert.equal(q.lastActivityAt.getTime(), at(6).getTime());
    const older = applySessionQueryEvent(q, signal('QueryExecutionCanceled', 4));
    assert.equal(older.phase, 'done', 'a terminal event older than the last phase decision is stale too');
  });

  it('#3209: a late non-terminal event never undoes done, error or canceled', () => {
    for (const terminal of ['QueryExecutionComplete', 'LLMCallError', 'QueryExecutionCanceled']) {
      const q = applied(
        signal('QueryExecutionStart', 1),
        signal(terminal, 2, { error: terminal === 'LLMCallError' ? 'e' : undefined }),
        signal('AgentExecutionStart', 3),
      );
      assert.equal(q.phase, phaseOfReason(terminal, terminal === 'LLMCallError' ? 'e' : undefined), terminal);
      assert.equal(q.lastSequence, 3, 'it still is the query activity');
    }
  });

  it('#3004: a message fills the conversation but is not query activity', () => {
    const q = applied(signal('QueryExecutionStart', 1), signal('QueryExecutionComplete', 2));
    const messaged = applyQueryMessage(q, 'conv-1');
    assert.equal(messaged.conversationId, 'conv-1');
    assert.equal(messaged.lastSequence, q.lastSequence);
    assert.equal(messaged.lastActivityAt, q.lastActivityAt);
    assert.equal(applyQueryMessage(messaged, 'conv-2').conversationId, 'conv-1', 'first write wins');
  });

  it('elects the status by the order events were applied, not by their append times', () => {
    // An append's clock starts before it waits for the session's lock: a later sequence can carry an earlier time.
    const failed = applied(signal('LLMCallError', 7, { queryName: 'a', at: at(1), error: 'e' }));
    const done = applied(signal('QueryExecutionComplete', 6, { queryName: 'b', at: at(2) }));
    assert.equal(sessionStatus([done, failed]), 'error', 'the query applied last decides');
    const again = applySessionQueryEvent(done, signal('AgentExecutionStart', 8, { queryName: 'b', at: at(1) }));
    assert.equal(again.lastActivityAt.getTime(), at(2).getTime(), 'activity times never move back');
  });
});

const op = (reason: string, sessionId: string, queryName: string, data: Record<string, unknown> = {}) => ({
  timestamp: new Date().toISOString(),
  eventType: 'Normal',
  reason,
  message: reason,
  data: { queryId: `uid-${queryName}`, queryName, queryNamespace: 'default', sessionId, ...data },
});

describe('sessions API (upstream-compatible)', () => {
  let broker: TestBroker;
  const post = (body: unknown) => postJson(`${broker.url}/events`, body);
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('builds session entries from operation events, in the upstream store shape', async () => {
    await post(op('QueryExecutionStart', 'session-123', 'openai-query-abc123', { conversationId: 'conv-9f3a21bc', agent: 'default/noah' }));
    await post(op('QueryExecutionComplete', 'session-123', 'openai-query-abc123'));
    await post(op('QueryExecutionStart', 'session-123', 'openai-query-def456', { conversationId: 'conv-9f3a21bc', agent: 'default/planner' }));
    await post(op('QueryExecutionComplete', 'session-123', 'openai-query-def456'));
    await post({ reason: 'QueryExecutionStart', data: { queryId: 'no-name' } }); // no sessionId/queryName: ignored, as upstream

    const store = (await getJson(`${broker.url}/sessions`)).body;
    const expected = fixtureJson('sessions-store-late.json');
    assert.deepEqual(Object.keys(store), ['sessions']);
    const entry = store.sessions['session-123'];
    const expectedEntry: any = Object.values(expected.sessions)[0];
    for (const key of Object.keys(expectedEntry)) assert.ok(key in entry, `entry has ${key}`);
    assert.equal(entry.name, '123');
    assert.deepEqual(Object.keys(entry.queries), ['openai-query-abc123', 'openai-query-def456']);
    const q = entry.queries['openai-query-abc123'];
    for (const key of Object.keys(Object.values<any>(expectedEntry.queries)[0])) assert.ok(key in q, `query has ${key}`);
    assert.equal(q.phase, 'done');
    assert.equal(q.agent, 'default/noah');
    assert.equal(q.targetType, 'agent');
    assert.equal(entry.status, 'idle');
    assert.equal(entry.errorCount, 0);
    assert.equal(entry.conversations.length, 1);
    assert.deepEqual(entry.conversations[0].participants, ['default/noah', 'default/planner']);
    assert.equal(entry.conversations[0].messageCount, 2);
    assert.equal(entry.conversations[0].participantType, 'agent');
    assert.deepEqual(entry.participants, [{ id: 'default/noah', name: 'default/noah', type: 'agent' }]);
    assert.equal(Object.keys(store.sessions).length, 1, 'sessions without queries are not listed');

    assert.deepEqual((await getJson(`${broker.url}/sessions/session-123`)).body, entry);
    const missing = await getJson(`${broker.url}/sessions/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.message, 'Session not found');
  });

  it('pages with filters, sort and statusCounts when limit or cursor is given', async () => {
    await post(op('QueryExecutionStart', 'session-busy', 'running-q', { team: 'default/research' }));
    await post(op('ToolCallError', 'session-bad', 'failing-q', { error: 'tool failed', tool: 'search' }));
    const page = (await getJson(`${broker.url}/sessions?limit=2`)).body;
    const expected = fixtureJson('broker-get-sessions-paginated-response.json');
    assert.deepEqual(
      Object.keys(page)
        .filter((k) => k !== 'nextCursor')
        .sort(),
      Object.keys(expected).sort(),
    );
    assert.equal(page.items.length, 2);
    assert.equal(page.total, 3);
    assert.equal(page.hasMore, true);
    assert.equal(page.nextCursor, 2);
    assert.deepEqual(page.statusCounts, { active: 1, idle: 1, error: 1 });
    assert.equal((await getJson(`${broker.url}/sessions?limit=2&cursor=2`)).body.items.length, 1);
    assert.deepEqual(
      (await getJson(`${broker.url}/sessions?limit=10&status=error`)).body.items.map((s: any) => s.sessionId),
      ['session-bad'],
    );
    assert.deepEqual(
      (await getJson(`${broker.url}/sessions?limit=10&search=RESEARCH`)).body.items.map((s: any) => s.sessionId),
      ['session-busy'],
    );
    assert.deepEqual(
      (await getJson(`${broker.url}/sessions?limit=10&sort=name&order=asc`)).body.items.map((s: any) => s.name),
      ['123', 'bad', 'busy'],
    );
    assert.equal((await getJson(`${broker.url}/sessions?limit=10&dateFrom=not-a-date`)).body.total, 0);
    assert.equal((await getJson(`${broker.url}/sessions?limit=10&status=weird`)).status, 400);
    const bad = (await getJson(`${broker.url}/sessions?limit=10&status=error`)).body.items[0];
    assert.equal(bad.status, 'error');
    assert.equal(bad.errorCount, 1);
    assert.equal(bad.queries['failing-q'].error, 'tool failed');
  });

  it('POST /sessions applies its body with _reason', async () => {
    const res = await postJson(`${broker.url}/sessions`, {
      sessionId: 'session-posted',
      queryName: 'manual',
      _reason: 'QueryExecutionCanceled',
      targetType: 'tool',
    });
    assert.equal(res.status, 201);
    assert.deepEqual(res.body, { status: 'success' });
    const entry = (await getJson(`${broker.url}/sessions/session-posted`)).body;
    assert.equal(entry.queries.manual.phase, 'canceled');
    assert.equal(entry.queries.manual.targetType, 'tool');
    assert.equal((await postJson(`${broker.url}/sessions`, { queryName: 'x' })).status, 400);
  });

  it('watches sessions: replay of current entries, then one frame per change, with ids', async () => {
    const watcher = new RecordingEventSource(`${broker.url}/sessions?watch=true&session_id=session-123`);
    const initial = await watcher.waitFor(1);
    assert.equal(initial[0]!.data.sessionId, 'session-123');
    assert.equal(initial[0]!.data.session.queries['openai-query-abc123'].phase, 'done');
    await post(op('QueryExecutionStart', 'session-123', 'third-query'));
    await post(op('QueryExecutionStart', 'session-other', 'unrelated'));
    const frames = await watcher.waitFor(2);
    await sleep(200);
    assert.equal(
      frames.length,
      2,
      'other sessions are filtered out: ' + JSON.stringify(watcher.messages.map((m) => [m.id, m.data.sessionId, Object.keys(m.data.session.queries)])),
    );
    assert.equal(frames[1]!.data.session.status, 'active');
    assert.ok('third-query' in frames[1]!.data.session.queries);
    assert.match(frames[1]!.id, /^\d+:\d+$/);
    watcher.close();
  });

  it('#3004: a message to a healthy query does not re-elect the session status, but is session activity', async () => {
    await post(op('QueryExecutionStart', 'session-elect', 'healthy-q'));
    await post(op('QueryExecutionComplete', 'session-elect', 'healthy-q'));
    await post(op('QueryExecutionStart', 'session-elect', 'broken-q'));
    await post(op('QueryExecutionComplete', 'session-elect', 'broken-q', { error: 'model refused' }));
    const earlier = (await getJson(`${broker.url}/sessions/session-elect`)).body;
    assert.equal(earlier.status, 'error');
    await sleep(20);
    const posted = await postJson(`${broker.url}/messages`, {
      conversation_id: 'conv-elect',
      query_id: 'healthy-q',
      messages: [{ role: 'assistant', content: 'hi' }],
    });
    assert.equal(posted.status, 200);
    const later = (await getJson(`${broker.url}/sessions/session-elect`)).body;
    assert.equal(later.status, 'error', 'the newer failure still decides the status');
    assert.equal(later.queries['healthy-q'].lastActivity, earlier.queries['healthy-q'].lastActivity, 'a message is not query activity');
    assert.equal(later.queries['healthy-q'].conversationId, 'conv-elect', 'the message attaches the query to its conversation');
    assert.deepEqual(
      later.conversations.map((c: any) => c.conversationId),
      ['conv-elect'],
    );
    assert.ok(later.lastActivity > earlier.lastActivity, 'the session itself was active');
    const page = (await getJson(`${broker.url}/sessions?limit=10&status=error`)).body.items.map((e: any) => e.sessionId);
    assert.ok(page.includes('session-elect'));
  });

  it('rebuilds session_queries identically, then deletes a query and the store', async () => {
    const snapshot = async () => (await broker.sql.query('SELECT * FROM session_queries ORDER BY tenant_id, session_id, query_name')).rows;
    const live = await snapshot();
    const summary = async () =>
      (
        await broker.sql.query(
          'SELECT session_id, query_count, status, error_count, conversation_count, queries_created_at, queries_active_at FROM sessions ORDER BY session_id',
        )
      ).rows;
    const liveSummary = await summary();
    const rebuilt = await runCli(['projections', 'rebuild'], { DATABASE_URL: broker.database.url });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.deepEqual(await snapshot(), live);
    assert.deepEqual(await summary(), liveSummary);

    const removed = await fetch(`${broker.url}/sessions/queries/openai-query-abc123`, { method: 'DELETE' });
    assert.deepEqual(await removed.json(), { status: 'success', message: 'Query openai-query-abc123 removed from 1 session(s)', removed: 1 });
    assert.equal('openai-query-abc123' in (await getJson(`${broker.url}/sessions/session-123`)).body.queries, false);
    const purged = await fetch(`${broker.url}/sessions`, { method: 'DELETE' });
    assert.deepEqual(await purged.json(), { status: 'success', message: 'Sessions purged' });
    assert.deepEqual((await getJson(`${broker.url}/sessions`)).body, { sessions: {} });
  });
});
