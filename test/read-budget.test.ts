/**
 * Byte budgets on reads: a page of large events stops at READ_PAGE_MAX_BYTES (with at least one
 * event), says so, and its cursor continues; a watch stream reads on past a page cut at the budget
 * without waiting for the safety-net poll.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SLICE_CHARS } from '../apps/broker/src/watch/page-or-watch.js';
import { operationEvent } from './support/ark-payloads.js';
import { RecordingEventSource } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const BUDGET = 64 * 1024;
/** An event whose JSON is about 40 KB: a page of the budget holds two of them. */
const large = (i: number) => ({ sessionId: 'large', type: 'custom.large', data: { i, text: 'x'.repeat(40_000) } });

describe('byte budgets on reads', () => {
  let broker: TestBroker;
  before(async () => {
    // A long safety-net poll: a watch that stopped at a cut page would stall for it.
    broker = await startTestBroker({ READ_PAGE_MAX_BYTES: String(BUDGET), WATCH_POLL_MS: '60000' });
  });
  after(() => broker.close());

  it('a page stops at the budget, says so, and its cursor reads every event exactly once', async () => {
    const watcher = new RecordingEventSource(`${broker.url}/v2/sessions/large/events?watch=true`);
    await watcher.opened;
    for (let i = 0; i < 10; i++) assert.equal((await postJson(`${broker.url}/v2/events`, large(i))).status, 201);
    assert.equal((await postJson(`${broker.url}/v2/events`, { sessionId: 'large', type: 'custom.small', data: {} })).status, 201);

    const first = await getJson(`${broker.url}/v2/sessions/large/events?limit=60`);
    assert.equal(first.status, 200);
    assert.deepEqual(
      first.body.items.map((e: { sequence: number }) => e.sequence),
      [1, 2],
    );
    assert.equal(first.body.hasMore, true);
    assert.equal(first.body.cutAt, 'byte_budget');
    assert.equal(first.body.nextCursor, '2');

    const walk = async (path: string, param: string, start?: string) => {
      const seen: number[] = [];
      let cursor = start;
      for (let pages = 0; pages < 20; pages++) {
        const page = await getJson(`${broker.url}${path}?limit=60${cursor ? `&${param}=${cursor}` : ''}`);
        assert.equal(page.status, 200);
        seen.push(...page.body.items.map((e: { data: { i?: number } }) => e.data.i ?? -1));
        if (!page.body.hasMore) return seen;
        cursor = page.body.nextCursor;
      }
      throw new Error('too many pages');
    };
    const everyEvent = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1];
    assert.deepEqual(await walk('/v2/sessions/large/events', 'after'), everyEvent);
    assert.deepEqual(await walk('/v2/events', 'after'), everyEvent, 'the tenant feed too');

    // A page of small events is not cut, and says nothing of the budget.
    const small = await getJson(`${broker.url}/v2/sessions/large/events?after=10`);
    assert.equal(small.body.items.length, 1);
    assert.equal(small.body.hasMore, false);
    assert.equal(small.body.cutAt, undefined);

    const frames = await watcher.waitFor(11, 10_000);
    watcher.close();
    assert.deepEqual(
      frames.map((f) => f.id),
      ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11'],
    );
  });

  it('a single event larger than the budget is still read, alone', async () => {
    const huge = { sessionId: 'huge', type: 'custom.huge', data: { text: 'y'.repeat(BUDGET * 2) } };
    assert.equal((await postJson(`${broker.url}/v2/events`, [huge, huge])).status, 201);
    const page = await getJson(`${broker.url}/v2/sessions/huge/events`);
    assert.equal(page.body.items.length, 1);
    assert.equal(page.body.cutAt, 'byte_budget');
    const next = await getJson(`${broker.url}/v2/sessions/huge/events?after=${page.body.nextCursor}`);
    assert.equal(next.body.items.length, 1);
    assert.equal(next.body.items[0].sequence, 2);
  });

  it("upstream's lists of operation events and messages stop at the budget too, and their cursors read every item once", async () => {
    for (let i = 0; i < 6; i++) {
      const event = operationEvent(
        'ToolCallStart',
        {
          queryId: 'uid-budget',
          queryName: 'q-budget',
          queryNamespace: 'default',
          sessionId: 'upstream-budget',
          toolName: 'big',
          parameters: 'p'.repeat(40_000),
          i,
        },
        `2026-01-01T00:00:0${i}Z`,
      );
      assert.equal((await postJson(`${broker.url}/events`, event)).status, 201);
    }
    const messages = Array.from({ length: 6 }, (_, i) => ({ role: 'user', content: `${i}:${'m'.repeat(40_000)}` }));
    assert.equal((await postJson(`${broker.url}/messages`, { conversation_id: 'c-budget', query_id: 'q-budget', messages })).status, 200);

    const walk = async (path: string, itemOf: (item: any) => number) => {
      const seen: number[] = [];
      let cutPages = 0;
      let cursor: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await getJson(`${broker.url}${path}${cursor === undefined ? '' : `&cursor=${cursor}`}`);
        assert.equal(page.status, 200);
        assert.ok(page.body.items.length <= 2, `a page holds what fits ${BUDGET} bytes: ${page.body.items.length}`);
        seen.push(...page.body.items.map(itemOf));
        if (page.body.cutAt === 'byte_budget') cutPages++;
        if (!page.body.hasMore) return { seen, cutPages };
        cursor = String(page.body.nextCursor);
      }
      throw new Error('too many pages');
    };
    const events = await walk('/events?session_id=upstream-budget&limit=100', (e) => e.data.i);
    assert.deepEqual(events.seen, [0, 1, 2, 3, 4, 5]);
    assert.ok(events.cutPages > 0, 'pages said they were cut');
    const stored = await walk('/messages?conversation_id=c-budget&limit=100', (m) => Number(m.message.content.split(':')[0]));
    assert.deepEqual(stored.seen, [0, 1, 2, 3, 4, 5]);
    assert.ok(stored.cutPages > 0, 'pages said they were cut');
  });

  it('a page of megabytes is streamed in slices and arrives intact, characters outside the BMP included', async () => {
    // The data's text part is `{"text": "` (PostgreSQL's spacing) and then this: the first slice would end between the halves of the first emoji.
    const text = `${'a'.repeat(SLICE_CHARS - 1 - '{"text": "'.length)}${'\u{1F600}'.repeat(700_000)}"\\u0000 end`;
    assert.equal((await postJson(`${broker.url}/v2/events`, { sessionId: 'streamed', type: 'custom.streamed', data: { text } })).status, 201);
    const res = await fetch(`${broker.url}/v2/sessions/streamed/events`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), null, 'sent in chunks, not as one body');
    const page = (await res.json()) as { items: { data: { text: string } }[] };
    assert.equal(page.items.length, 1);
    assert.ok(page.items[0]!.data.text === text, 'the text came back unchanged');
  });
});
