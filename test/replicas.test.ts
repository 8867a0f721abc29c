import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
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
    assert.deepEqual((await onB.waitFor(5)).map((m) => m.data.sequence), [1, 2, 3, 4, 5]);
    assert.deepEqual((await onC.waitFor(5)).map((m) => m.data.data.i), [0, 1, 2, 3, 4]);
    await sleep(200);
    assert.equal(onB.messages.length, 5);
    assert.equal(onC.messages.length, 5);
    onB.close();
    onC.close();
  });

  it("the sessions watch on C reflects a message posted to B", async () => {
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
