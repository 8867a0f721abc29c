import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const chunk = (content: string) => JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] });
const dataLines = (text: string) => text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice('data: '.length));

async function uploadChunks(broker: TestBroker, query: string, contents: string[]) {
  const res = await fetch(`${broker.url}/stream/${query}`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: contents.map((c) => `${chunk(c)}\n`).join('') });
  assert.equal(res.status, 200);
}

describe('GET /v2/queries/:id/completion (OpenAI-compatible view with ark events)', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('replays chunks with the query’s events interleaved in log order, then [DONE]', async () => {
    const event = (reason: string) => postJson(`${broker.url}/events`, { reason, data: { queryId: 'q-view', queryName: 'view', sessionId: 's-view' } });
    await event('QueryExecutionStart');
    await uploadChunks(broker, 'q-view', ['Hello', ' world']);
    await event('ToolCallStart');
    await uploadChunks(broker, 'q-view', ['!']);
    assert.equal((await fetch(`${broker.url}/stream/q-view/complete`, { method: 'POST' })).status, 200);

    const text = await (await fetch(`${broker.url}/v2/queries/q-view/completion`)).text();
    const lines = dataLines(text);
    assert.equal(lines.at(-1), '[DONE]');
    const parsed = lines.slice(0, -1).map((l) => JSON.parse(l));
    const shape = parsed.map((p) => (p.type === 'event' ? p.event.type : p.choices[0].delta.content));
    assert.deepEqual(shape, ['query.started', 'Hello', ' world', 'tool.call.started', '!', 'llm.stream.completed']);
    assert.equal(parsed[1].object, 'chat.completion.chunk');
    assert.match(text, /id: \d+:\d+\n/);
  });

  it('is live while the query runs', async () => {
    const res = await fetch(`${broker.url}/v2/queries/q-live/completion`);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (needle: string) => {
      const deadline = Date.now() + 10_000;
      while (!text.includes(needle) && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
      assert.ok(text.includes(needle), `saw ${needle}`);
    };
    await uploadChunks(broker, 'q-live', ['first']);
    await readUntil('first');
    await uploadChunks(broker, 'q-live', ['second']);
    await readUntil('second');
    await fetch(`${broker.url}/stream/q-live/complete`, { method: 'POST' });
    await readUntil('[DONE]');
    await reader.cancel();
  });
});
