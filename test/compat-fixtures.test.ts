import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixtureText } from './support/fixtures.js';
import { getJson, startTestBroker, type TestBroker } from './support/test-broker.js';

/** The `data:` payloads of an SSE text, in order. */
const dataLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice('data: '.length));

async function upload(broker: TestBroker, query: string, lines: string[]) {
  const res = await fetch(`${broker.url}/stream/${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: lines.map((l) => `${l}\n`).join(''),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'stream_processed', query, chunks_received: lines.length });
  assert.equal((await fetch(`${broker.url}/stream/${query}/complete`, { method: 'POST' })).status, 200);
}

describe('chunk fixtures in upstream wire shape, relayed', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  for (const name of [
    'sse-chunks-agent-query-with-ark-metadata.txt',
    'sse-chunks-model-query-with-ark-metadata.txt',
    'sse-chunks-team-query-with-ark-metadata.txt',
  ]) {
    it(`${name}: what upstream streams is what we stream back`, async () => {
      const chunks = dataLines(fixtureText(name)).filter((d) => d !== '[DONE]');
      const query = name.replace(/\W+/g, '-');
      await upload(broker, query, chunks);
      const res = await fetch(`${broker.url}/stream/${query}?from-beginning=true`);
      const relayed = dataLines(await res.text());
      assert.equal(relayed.at(-1), '[DONE]');
      assert.deepEqual(
        relayed.slice(0, -1).map((d) => JSON.parse(d)),
        chunks.map((c) => JSON.parse(c)),
      );
      // Each line is one llm.chunk ark event of the query (its upload path's, `queryName`), with the chunk's `ark.query` as `queryId`.
      const feed = (await getJson(`${broker.url}/v2/events?after=0:0&limit=1000`)).body.items.filter(
        (e: any) => e.queryName === query && e.type === 'llm.chunk',
      );
      assert.equal(feed.length, chunks.length);
      assert.equal(feed[0].queryId, JSON.parse(chunks[0]!).ark.query);
    });
  }

  it('tool-call-deltas-sequence.ndjson: successive tool_call deltas relay in order', async () => {
    const deltas = fixtureText('tool-call-deltas-sequence.ndjson').split('\n').filter(Boolean);
    const chunks = deltas.map((d) => JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { tool_calls: JSON.parse(d) } }] }));
    await upload(broker, 'tool-deltas', chunks);
    const relayed = dataLines(await (await fetch(`${broker.url}/stream/tool-deltas?from-beginning=true`)).text());
    assert.deepEqual(
      relayed.slice(0, -1).map((d) => JSON.parse(d).choices[0].delta.tool_calls),
      deltas.map((d) => JSON.parse(d)),
    );
    assert.equal(relayed.at(-1), '[DONE]');
  });
});
