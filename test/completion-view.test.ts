import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const chunk = (content: string) => JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] });
const dataLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice('data: '.length));

/** Reads an SSE body to its end, noting when each `data:` line arrived (ms since the request). */
async function timedDataLines(url: string): Promise<{ at: number; data: string }[]> {
  const started = performance.now();
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const out: { at: number; data: string }[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const piece of res.body!) {
    buffered += decoder.decode(piece, { stream: true });
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const l of lines) if (l.startsWith('data: ')) out.push({ at: performance.now() - started, data: l.slice('data: '.length) });
  }
  return out;
}

async function uploadChunks(broker: TestBroker, query: string, contents: string[]) {
  const res = await fetch(`${broker.url}/stream/${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: contents.map((c) => `${chunk(c)}\n`).join(''),
  });
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

  it('?replay=realtime keeps the recorded gaps (long ones cut to maxGapMs); ?replay=fast and the default do not wait', async () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    const events = [
      { type: 'query.started', time: at(0) },
      { type: 'tool.call.started', time: at(250) },
      { type: 'tool.call.completed', time: at(500) },
      { type: 'agent.completed', time: at(450) }, // clock skew: an earlier time never makes the replay wait
      { type: 'query.completed', time: at(500 + 3_600_000) }, // an hour later: shortened to maxGapMs
    ].map((e) => ({ ...e, sessionId: 's-paced', queryId: 'q-paced', data: {} }));
    assert.equal((await postJson(`${broker.url}/v2/events`, events)).status, 201);

    const paced = await timedDataLines(`${broker.url}/v2/queries/q-paced/completion?replay=realtime&maxGapMs=500`);
    assert.deepEqual(
      paced.map((l) => (l.data === '[DONE]' ? l.data : JSON.parse(l.data).event.type)),
      [...events.map((e) => e.type), '[DONE]'],
    );
    const gap = (i: number) => paced[i]!.at - paced[i - 1]!.at;
    assert.ok(gap(1) >= 220 && gap(1) < 1_500, `recorded 250 ms gap replayed as ${gap(1)} ms`);
    assert.ok(gap(2) >= 220 && gap(2) < 1_500, `recorded 250 ms gap replayed as ${gap(2)} ms`);
    assert.ok(gap(3) < 150, `a step back in time waits ${gap(3)} ms`);
    assert.ok(gap(4) >= 470 && gap(4) < 2_000, `an hour's gap capped at 500 ms took ${gap(4)} ms`);

    for (const url of [`${broker.url}/v2/queries/q-paced/completion?replay=fast`, `${broker.url}/v2/queries/q-paced/completion`]) {
      const fast = await timedDataLines(url);
      assert.equal(fast.length, events.length + 1);
      assert.ok(fast.at(-1)!.at - fast[0]!.at < 300, `fast replay spread over ${fast.at(-1)!.at - fast[0]!.at} ms`);
    }
    const bad = await fetch(`${broker.url}/v2/queries/q-paced/completion?replay=slow`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'validation_failed');
  });

  it('realtime replay catches up, then streams live events as they come', async () => {
    const post = (type: string, time?: string) =>
      postJson(`${broker.url}/v2/events`, { type, sessionId: 's-paced-live', queryId: 'q-paced-live', data: {}, time });
    const t0 = Date.now() - 60_000;
    await post('query.started', new Date(t0).toISOString());
    await post('tool.call.started', new Date(t0 + 200).toISOString());
    const reading = timedDataLines(`${broker.url}/v2/queries/q-paced-live/completion?replay=realtime&maxGapMs=200`);
    await new Promise((r) => setTimeout(r, 700));
    await post('query.completed'); // a minute after the last recorded event: the cap, not a minute
    const lines = await reading;
    assert.deepEqual(
      lines.map((l) => (l.data === '[DONE]' ? l.data : JSON.parse(l.data).event.type)),
      ['query.started', 'tool.call.started', 'query.completed', '[DONE]'],
    );
    assert.ok(lines[1]!.at - lines[0]!.at >= 170, 'recorded gap kept');
    assert.ok(lines[2]!.at - lines[1]!.at >= 300, 'the live event came when posted');
  });
});
