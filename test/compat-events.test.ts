import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from './support/cli.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const op = (reason: string, data: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, data.n as number)).toISOString(),
  eventType: reason.endsWith('Error') ? 'Warning' : 'Normal',
  reason,
  message: `${reason} happened`,
  data: { queryName: 'weather', queryNamespace: 'default', sessionId: 'ops-session', ...data },
  ...extra,
});

describe('operation events (POST /events and reads)', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('stores what the Ark controller sends as ark events, 201 {status:"success"}', async () => {
    const sent = [
      op('QueryExecutionStart', { queryId: 'q-1', n: 1 }),
      op('AgentExecutionStart', { queryId: 'q-1', n: 2, agent: 'weather-agent' }),
      op('ToolCallStart', { queryId: 'q-1', n: 3, toolName: 'get-weather', toolId: 'call-1', toolType: 'mcp' }),
      op('ToolCallComplete', { queryId: 'q-1', n: 4, toolName: 'get-weather', toolId: 'call-1', result: 'sunny', durationMs: '120' }),
      op('LLMCallComplete', { queryId: 'q-1', n: 5, model: 'gpt-4o' }),
      op('QueryExecutionComplete', { queryId: 'q-1', n: 6 }, { ttl_seconds: 60, extraTopLevel: 'kept' }),
    ];
    for (const body of sent) {
      const res = await postJson(`${broker.url}/events`, body);
      assert.equal(res.status, 201);
      assert.deepEqual(res.body, { status: 'success' });
    }
    const events = (await getJson(`${broker.url}/v2/sessions/ops-session/events`)).body.items;
    assert.deepEqual(
      events.map((e: any) => e.type),
      ['query.started', 'agent.started', 'tool.call.started', 'tool.call.completed', 'llm.call.completed', 'query.completed'],
    );
    const tool = events[3];
    assert.equal(tool.source, 'operation-event');
    assert.equal(tool.queryId, 'q-1');
    assert.equal(tool.queryName, 'weather');
    assert.equal(tool.namespace, 'default');
    assert.equal(tool.time, '2026-01-01T00:00:00.004Z');
    assert.deepEqual([tool.data.toolName, tool.data.toolId, tool.data.result, tool.data.durationMs], ['get-weather', 'call-1', 'sunny', 120]);
    assert.equal(events[1].data.agent, 'weather-agent');

    // Upstream reads answer the bodies as posted, minus ttl_seconds.
    const page = await getJson(`${broker.url}/events?session_id=ops-session`);
    assert.equal(page.body.items.length, 6);
    assert.deepEqual(page.body.items[0], sent[0]);
    const { ttl_seconds: _t, ...lastWithoutTtl } = sent[5] as any;
    assert.deepEqual(page.body.items[5], lastWithoutTtl);
    assert.equal(page.body.hasMore, false);
    assert.equal('nextCursor' in page.body, false);
  });

  it('stores a retried POST once and maps reasons with upstream phase rules', async () => {
    const body = op('ToolCallComplete', { queryId: 'q-2', n: 1, toolId: 'call-9', sessionId: 'ops-2' });
    await postJson(`${broker.url}/events`, body);
    await postJson(`${broker.url}/events`, body);
    await postJson(`${broker.url}/events`, op('QueryExecutionComplete', { queryId: 'q-2', n: 2, sessionId: 'ops-2', error: 'model timeout' }));
    await postJson(`${broker.url}/events`, op('QueryExecutionCanceled', { queryId: 'q-2', n: 3, sessionId: 'ops-2' }));
    await postJson(`${broker.url}/events`, op('A2AExecutionComplete', { queryId: 'q-2', n: 4, sessionId: 'ops-2', taskId: 't1' }));
    await postJson(`${broker.url}/events`, op('SomethingNew', { queryId: 'q-2', n: 5, sessionId: 'ops-2' }));
    const types = (await getJson(`${broker.url}/v2/sessions/ops-2/events`)).body.items.map((e: any) => e.type + (e.data.phase ? `(${e.data.phase})` : ''));
    // The query's end is reported once; the cancel that follows is a later report of that step.
    assert.deepEqual(types, ['tool.call.completed', 'query.failed', 'query.updated(canceled)', 'a2a.task.updated', 'operation.recorded']);
  });

  it('uses the query UID as the session when the event names none', async () => {
    await postJson(`${broker.url}/events`, { reason: 'QueryExecutionStart', data: { queryId: 'lonely-query' } });
    assert.equal((await getJson(`${broker.url}/v2/sessions/lonely-query/events`)).body.items.length, 1);
  });

  it('validates like upstream: data.queryId is required, other fields pass through', async () => {
    for (const bad of [{}, { data: {} }, { data: { queryId: '' } }, { data: 'x' }]) {
      const res = await postJson(`${broker.url}/events`, bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(res.body.error.code, 'VALIDATION_ERROR');
    }
  });

  it('pages GET /events and GET /events/:queryId with numeric cursors', async () => {
    for (let n = 1; n <= 5; n++) await postJson(`${broker.url}/events`, op('LLMCallStart', { queryId: 'q-paged', sessionId: 'paged', n }));
    const first = await getJson(`${broker.url}/events/q-paged?limit=2`);
    assert.equal(first.body.items.length, 2);
    assert.equal(first.body.hasMore, true);
    assert.equal(typeof first.body.nextCursor, 'number');
    const rest = await getJson(`${broker.url}/events/q-paged?limit=10&cursor=${first.body.nextCursor}`);
    assert.deepEqual(
      rest.body.items.map((e: any) => e.data.n),
      [3, 4, 5],
    );
    assert.deepEqual((await getJson(`${broker.url}/events/never-ran`)).body, { items: [], hasMore: false });
    assert.equal((await getJson(`${broker.url}/events?limit=1001`)).status, 400);
  });

  it('watches /events (session filter) and /events/:queryId from the beginning', async () => {
    const live = new RecordingEventSource(`${broker.url}/events?watch=true&session_id=watched`);
    await live.opened;
    await postJson(`${broker.url}/events`, op('QueryExecutionStart', { queryId: 'q-w', sessionId: 'watched', n: 1 }));
    await sleep(100);
    await postJson(`${broker.url}/events`, op('QueryExecutionStart', { queryId: 'q-other', sessionId: 'not-watched', n: 1 }));
    await postJson(`${broker.url}/events`, op('QueryExecutionComplete', { queryId: 'q-w', sessionId: 'watched', n: 2 }));
    const got = await live.waitFor(2);
    await sleep(200);
    assert.deepEqual(
      got.map((m) => m.data.reason),
      ['QueryExecutionStart', 'QueryExecutionComplete'],
    );
    assert.match(got[0]!.id, /^\d+:\d+$/);
    live.close();

    const replay = new RecordingEventSource(`${broker.url}/events/q-w?watch=true&from-beginning=true`);
    assert.deepEqual(
      (await replay.waitFor(2)).map((m) => m.data.reason),
      ['QueryExecutionStart', 'QueryExecutionComplete'],
    );
    await postJson(`${broker.url}/events`, op('AgentExecutionStart', { queryId: 'q-w', sessionId: 'watched', n: 3 }));
    assert.equal((await replay.waitFor(3))[2]!.data.reason, 'AgentExecutionStart');
    replay.close();
  });

  it('DELETE /events/:queryId and DELETE /events hide events durably, rebuild included', async () => {
    for (let n = 1; n <= 3; n++) await postJson(`${broker.url}/events`, op('LLMCallStart', { queryId: 'q-del', sessionId: 'del', n }));
    await postJson(`${broker.url}/events`, op('LLMCallStart', { queryId: 'q-keep', sessionId: 'del', n: 9 }));
    const one = await fetch(`${broker.url}/events/q-del`, { method: 'DELETE' });
    assert.equal(one.status, 200);
    assert.deepEqual(await one.json(), { status: 'success', message: 'Query q-del events deleted' });
    assert.deepEqual((await getJson(`${broker.url}/events/q-del`)).body.items, []);
    assert.equal((await getJson(`${broker.url}/events/q-keep`)).body.items.length, 1);
    // Events after the delete show again; the log itself keeps every row.
    await postJson(`${broker.url}/events`, op('LLMCallComplete', { queryId: 'q-del', sessionId: 'del', n: 4 }));
    assert.deepEqual(
      (await getJson(`${broker.url}/events/q-del`)).body.items.map((e: any) => e.data.n),
      [4],
    );
    const replay = new RecordingEventSource(`${broker.url}/events/q-del?watch=true&from-beginning=true`);
    assert.deepEqual(
      (await replay.waitFor(1)).map((m) => m.data.data.n),
      [4],
    );
    await sleep(200);
    assert.equal(replay.messages.length, 1, 'a replay skips deleted events');
    replay.close();
    const rebuilt = await runCli(['projections', 'rebuild'], { DATABASE_URL: broker.database.url });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.deepEqual(
      (await getJson(`${broker.url}/events/q-del`)).body.items.map((e: any) => e.data.n),
      [4],
      'the same after a rebuild',
    );

    const all = await fetch(`${broker.url}/events`, { method: 'DELETE' });
    assert.deepEqual(await all.json(), { status: 'success', message: 'Event data purged' });
    assert.deepEqual((await getJson(`${broker.url}/events`)).body.items, []);
    assert.equal((await getJson(`${broker.url}/v2/sessions/del/events`)).body.items.length, 5, 'the log keeps its rows');
  });
});
