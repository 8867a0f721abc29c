import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ArkQueryProducer, arkQueryPlan, type ArkQueryPlan } from './support/ark-producer.js';
import { runCli } from './support/cli.js';
import { getJson, startTestBroker, type TestBroker } from './support/test-broker.js';

// Issue #17: a dashboard user watching a real Ark query sees ONE query with its tool calls, LLM calls,
// chunks and messages, whatever order Ark's four sources (spans, operation events, chunks, messages)
// reach the broker in. The producer simulation (support/ark-producer.ts) sends what Ark sends: spans
// name the query and session but never its UID, chunks are posted under the query's name with the
// UID in their `ark` metadata, messages name the query by its name.

/** The data frames of an SSE response read to its end (the completion view ends itself with `[DONE]`). */
async function sseData(url: string): Promise<string[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, url);
  const text = await res.text();
  return text.split('\n\n').flatMap((frame) => {
    const data = frame
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6));
    return data.length ? [data.join('\n')] : [];
  });
}

/** Every event of a session's log, paging to the end. */
async function sessionLog(broker: TestBroker, sessionId: string): Promise<any[]> {
  const events: any[] = [];
  for (let after = 0; ;) {
    const page = await getJson(`${broker.url}/v2/sessions/${encodeURIComponent(sessionId)}/events?after=${after}&limit=1000`);
    assert.equal(page.status, 200);
    events.push(...page.body.items);
    if (!page.body.hasMore) return events;
    after = Number(page.body.nextCursor);
  }
}

const tokensOf = (p: ArkQueryPlan) => {
  const input = p.usage[0].prompt + p.usage[1].prompt;
  const output = p.usage[0].completion + p.usage[1].completion;
  return { input, output, total: input + output };
};

/** The chunk lines of a completion view (its `{type:"event"}` frames and `[DONE]` left out). */
const chunksIn = (frames: string[]) =>
  frames
    .filter((f) => f !== '[DONE]')
    .map((f) => JSON.parse(f))
    .filter((f) => f.object === 'chat.completion.chunk');

/** The assertions of issue #17 for one query delivered by `deliver`. */
function oneQueryIsShown(getBroker: () => TestBroker, key: string, deliver: (q: ArkQueryProducer) => Promise<void>): void {
  let broker: TestBroker;
  let producer: ArkQueryProducer;
  let p: ArkQueryPlan;
  const aggregate = async () => {
    const res = await getJson(`${broker.url}/v2/sessions/${encodeURIComponent(producer.sessionId)}`);
    assert.equal(res.status, 200);
    return res.body;
  };
  /** The query of the aggregate that has the UID (whether it is the only one is the first test's assertion). */
  const theQuery = async () => {
    const body = await aggregate();
    const q = body.queries.items.find((x: any) => x.queryId === p.uid);
    assert.ok(q, `a query with the UID, got ${JSON.stringify(body.queries.items.map((x: any) => [x.queryKey, x.queryName]))}`);
    return q;
  };

  before(async () => {
    broker = getBroker();
    producer = new ArkQueryProducer(broker.url, arkQueryPlan(key));
    p = producer.plan;
    await deliver(producer); // every request of the simulation got its 2xx (it throws otherwise)
  });

  it('GET /v2/sessions/:id shows exactly one query, by its UID and name', async () => {
    const body = await aggregate();
    assert.equal(body.session.queryCount, 1);
    assert.equal(body.queries.total, 1);
    assert.deepEqual(
      body.queries.items.map((q: any) => ({ queryId: q.queryId, queryName: q.queryName, sessionId: q.sessionId })),
      [{ queryId: p.uid, queryName: p.name, sessionId: producer.sessionId }],
    );
  });

  it('the query is done, with its input, response and token usage', async () => {
    const q = await theQuery();
    assert.equal(q.phase, 'done');
    assert.match(JSON.stringify(q.input), new RegExp(p.input.slice(0, 20)));
    assert.match(JSON.stringify(q.response), new RegExp(p.response));
    assert.deepEqual(q.tokens, tokensOf(p));
    assert.deepEqual(q.target, { type: 'agent', name: p.agent });
  });

  it('the query has its one tool call, completed, with parameters and result', async () => {
    const q = await theQuery();
    assert.equal(q.toolCalls.total, 1);
    assert.deepEqual(
      q.toolCalls.items.map((t: any) => ({ toolId: t.toolId, toolName: t.toolName, toolType: t.toolType, status: t.status, parameters: t.parameters })),
      [{ toolId: p.toolCall.id, toolName: p.toolCall.name, toolType: p.toolCall.type, status: 'completed', parameters: JSON.parse(p.toolCall.arguments) }],
    );
    assert.match(JSON.stringify(q.toolCalls.items[0].result), new RegExp(p.toolCall.result));
  });

  it('the query has its two LLM calls with their token usage', async () => {
    const q = await theQuery();
    assert.deepEqual(
      q.llmCalls.items.map((l: any) => ({ model: l.model, status: l.status, input: l.tokens.input, output: l.tokens.output })),
      p.usage.map((u) => ({ model: p.model, status: 'completed', input: u.prompt, output: u.completion })),
    );
  });

  it('the query has its chunk summary: every chunk, stream completed', async () => {
    const q = await theQuery();
    assert.equal(q.chunks.count, producer.chunkLines().length);
    assert.equal(q.chunks.streamCompleted, true);
  });

  it("the aggregate has the session's conversation messages (messages.count and messages.items)", async () => {
    const body = await aggregate();
    const posted = producer.messagesBody().messages;
    assert.equal(body.messages.count, posted.length);
    assert.ok(Array.isArray(body.messages.items), `messages.items, got ${JSON.stringify(body.messages)}`);
    assert.deepEqual(
      body.messages.items.map((m: any) => m.message),
      posted,
    );
    for (const m of body.messages.items) assert.equal(m.conversationId, p.conversationId);
  });

  it('the agent, model and tool are named one way', async () => {
    const body = await aggregate();
    assert.deepEqual(body.session.agents, [p.agent]);
    assert.deepEqual(body.session.models, [p.model]);
    assert.deepEqual(body.session.tools, [p.toolCall.name]);
    const q = await theQuery();
    assert.equal(q.agent, p.agent);
  });

  it('GET /v2/queries/<uid> and GET /v2/queries/<name> answer that one query', async () => {
    const q = await theQuery();
    for (const id of [p.uid, p.name]) {
      const res = await getJson(`${broker.url}/v2/queries/${encodeURIComponent(id)}`);
      assert.equal(res.status, 200, id);
      assert.equal(res.body.queryKey, q.queryKey, id);
      assert.equal(res.body.queryId, p.uid, id);
      assert.equal(res.body.toolCalls.total, 1, id);
      assert.equal(res.body.chunks.count, producer.chunkLines().length, id);
    }
  });

  for (const by of ['uid', 'name'] as const) {
    it(`GET /v2/queries/<${by}>/completion replays the chunks, then [DONE]`, async () => {
      const id = by === 'uid' ? p.uid : p.name;
      const frames = await sseData(`${broker.url}/v2/queries/${encodeURIComponent(id)}/completion?replay=fast`);
      assert.equal(frames.at(-1), '[DONE]');
      assert.equal(chunksIn(frames).length, producer.chunkLines().length, 'every chunk');
      assert.deepEqual(chunksIn(frames), producer.chunkLines());
    });
  }

  it('GET /v2/tool-calls?sessionId= shows exactly one tool call', async () => {
    const res = await getJson(`${broker.url}/v2/tool-calls?sessionId=${encodeURIComponent(producer.sessionId)}`);
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.items.map((t: any) => ({ toolId: t.toolId, queryId: t.queryId, status: t.status })),
      [{ toolId: p.toolCall.id, queryId: p.uid, status: 'completed' }],
    );
  });

  it('GET /sessions/:id (upstream shape) shows one query', async () => {
    const res = await getJson(`${broker.url}/sessions/${encodeURIComponent(producer.sessionId)}`);
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body.queries), [p.name]);
    assert.equal(res.body.queries[p.name].phase, 'done');
    assert.equal(res.body.queries[p.name].agent, p.agent);
  });

  it('the log has one tool.call.started and one tool.call.completed for the tool call', async () => {
    const log = await sessionLog(broker, producer.sessionId);
    const ofCall = log.filter((e) => e.type.startsWith('tool.call.') && e.data?.toolId === p.toolCall.id);
    const count = (type: string) => ofCall.filter((e) => e.type === type).length;
    assert.deepEqual(
      { started: count('tool.call.started'), completed: count('tool.call.completed'), failed: count('tool.call.failed') },
      { started: 1, completed: 1, failed: 0 },
      `tool call events: ${JSON.stringify(ofCall.map((e) => [e.type, e.source]))}`,
    );
    const others = ofCall.filter((e) => !['tool.call.started', 'tool.call.completed'].includes(e.type)).map((e) => e.type);
    assert.deepEqual(
      [...new Set(others)].filter((t) => t !== 'tool.call.updated'),
      [],
      'later sources may only add tool.call.updated',
    );
  });

  it('the log has one query.started and one query.completed for the query; its other reports are query.updated', async () => {
    const log = await sessionLog(broker, producer.sessionId);
    const ofQuery = log.filter((e) => /^query\./.test(e.type));
    const count = (type: string) => ofQuery.filter((e) => e.type === type).length;
    const seen = JSON.stringify(ofQuery.map((e) => [e.type, e.source, e.data?.name ?? e.data?.reason]));
    assert.deepEqual(
      { started: count('query.started'), completed: count('query.completed'), failed: count('query.failed') },
      { started: 1, completed: 1, failed: 0 },
      `query events: ${seen}`,
    );
    // QueryExecutionStart, QueryExecutionComplete, the executor's query span and the controller's dispatch span.
    assert.equal(ofQuery.length, 4, seen);
    assert.deepEqual(
      ofQuery.filter((e) => e.type === 'query.updated').map((e) => e.data.phase),
      ['completed', 'completed'],
      seen,
    );
  });

  it('the log has one llm.call.started and one llm.call.completed per LLM call; its other reports are llm.call.updated', async () => {
    const log = await sessionLog(broker, producer.sessionId);
    const ofCalls = log.filter((e) => /^llm\.call\./.test(e.type));
    const seen = JSON.stringify(ofCalls.map((e) => [e.type, e.source, e.data?.callKey]));
    const calls = [...new Set(ofCalls.map((e) => e.data.callKey))];
    assert.equal(calls.length, 2, `two calls: ${seen}`);
    for (const call of calls) {
      const of = ofCalls.filter((e) => e.data.callKey === call);
      const count = (type: string) => of.filter((e) => e.type === type).length;
      assert.deepEqual(
        { started: count('llm.call.started'), completed: count('llm.call.completed'), updated: count('llm.call.updated') },
        // LLMCallStart, then the span's end and LLMCallComplete: the first end report completes it.
        { started: 1, completed: 1, updated: 1 },
        `call ${call}: ${seen}`,
      );
      assert.deepEqual([...new Set(of.map((e) => e.source))].sort(), ['operation-event', 'otlp'], `both sources report call ${call}`);
    }
  });
}

describe('one Ark query is one query, whatever order its sources arrive in (issue #17)', () => {
  let broker: TestBroker;
  const sessions: string[] = [];
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());
  const getBroker = () => broker;

  const orders: [name: string, deliver: (q: ArkQueryProducer) => Promise<void>][] = [
    [
      'spans first',
      async (q) => {
        await q.spans();
        await q.operationEvents();
        await q.chunks();
        await q.messages();
      },
    ],
    [
      'operation events first',
      async (q) => {
        await q.operationEvents();
        await q.spans();
        await q.chunks();
        await q.messages();
      },
    ],
    [
      'chunks before spans and operation events',
      async (q) => {
        await q.chunks();
        await q.spans();
        await q.operationEvents();
        await q.messages();
      },
    ],
    [
      // Before any other source names their query, messages go to their conversation's session; the
      // query's operation events then move them to the query's session (see the test below).
      'messages first, then operation events, spans and chunks',
      async (q) => {
        await q.messages();
        await q.operationEvents();
        await q.spans();
        await q.chunks();
      },
    ],
    [
      'chunks, then messages, before operation events and spans',
      async (q) => {
        await q.chunks();
        await q.messages();
        await q.operationEvents();
        await q.spans();
      },
    ],
    [
      'operation events interleaved with spans (start event, spans, the other events)',
      async (q) => {
        await q.operationEvents((r) => r === 'QueryExecutionStart');
        await q.spans();
        await q.operationEvents((r) => r !== 'QueryExecutionStart');
        await q.chunks();
        await q.messages();
      },
    ],
    ['as Ark delivers a short query (events, messages, chunks, executor spans, completion, controller span)', (q) => q.asArkDelivers()],
  ];

  orders.forEach(([name, deliver], i) => {
    describe(name, () => {
      oneQueryIsShown(getBroker, `order${i}`, async (q) => {
        sessions.push(q.sessionId);
        await deliver(q);
      });
    });
  });

  it("keeps messages that arrive before any other source of their query in their conversation until the query's operation events name its session", async () => {
    const q = new ArkQueryProducer(broker.url, arkQueryPlan('messages-alone'));
    sessions.push(q.plan.conversationId, q.sessionId);
    await q.messages();
    const messagesOf = async (session: string) => {
      const res = await getJson(`${broker.url}/v2/sessions/${encodeURIComponent(session)}`);
      return res.status === 200 ? res.body.messages.count : res.status;
    };
    assert.equal(await messagesOf(q.plan.conversationId), q.messagesBody().messages.length);
    assert.equal(await messagesOf(q.sessionId), 404, 'the query is not known yet');
    await q.operationEvents((r) => r === 'QueryExecutionStart');
    assert.equal(await messagesOf(q.sessionId), q.messagesBody().messages.length, "moved to the query's session");
    assert.equal(await messagesOf(q.plan.conversationId), 0, "the conversation's session keeps their events in its log, not the messages");
    // Upstream's memory routes are by conversation and query, wherever the messages' events are.
    const listed = await getJson(`${broker.url}/messages?conversation_id=${encodeURIComponent(q.plan.conversationId)}`);
    assert.equal(listed.body.items.length, q.messagesBody().messages.length);
  });

  describe('a query name reused later in the same session (a new UID) is a new query', () => {
    let first: ArkQueryProducer;
    let second: ArkQueryProducer;
    let sessionId: string;
    before(async () => {
      const a = arkQueryPlan('reuse-a', { startedAt: Date.now() - 20_000 });
      const b = arkQueryPlan('reuse-b', {
        name: a.name,
        sessionId: a.sessionId,
        conversationId: a.conversationId,
        input: 'And tomorrow?',
        response: 'Rain in Paris tomorrow.',
        toolCall: { ...a.toolCall, id: 'call_reuse2', arguments: '{"city":"Paris","day":"tomorrow"}', result: 'rain' },
        startedAt: Date.now() - 5_000,
      });
      first = new ArkQueryProducer(broker.url, a);
      second = new ArkQueryProducer(broker.url, b);
      sessionId = first.sessionId;
      sessions.push(sessionId);
      await first.asArkDelivers();
      await second.asArkDelivers();
    });

    it('the session shows two queries, oldest first, each with its own tool call and chunks', async () => {
      const res = await getJson(`${broker.url}/v2/sessions/${encodeURIComponent(sessionId)}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.session.queryCount, 2);
      assert.deepEqual(
        res.body.queries.items.map((q: any) => ({
          queryId: q.queryId,
          queryName: q.queryName,
          phase: q.phase,
          toolIds: q.toolCalls.items.map((t: any) => t.toolId),
          llmCalls: q.llmCalls.items.length,
          chunks: q.chunks.count,
        })),
        [first, second].map((q) => ({
          queryId: q.plan.uid,
          queryName: q.plan.name,
          phase: 'done',
          toolIds: [q.plan.toolCall.id],
          llmCalls: 2,
          chunks: q.chunkLines().length,
        })),
      );
    });

    it('GET /v2/queries/<name> answers the newer query; each UID its own', async () => {
      const byName = await getJson(`${broker.url}/v2/queries/${encodeURIComponent(first.plan.name)}`);
      assert.equal(byName.body.queryId, second.plan.uid);
      for (const q of [first, second]) {
        const byUid = await getJson(`${broker.url}/v2/queries/${q.plan.uid}`);
        assert.equal(byUid.status, 200);
        assert.equal(byUid.body.queryId, q.plan.uid);
        assert.deepEqual(
          byUid.body.toolCalls.items.map((t: any) => t.toolId),
          [q.plan.toolCall.id],
        );
      }
    });

    it('each UID replays only its own chunks', async () => {
      for (const q of [first, second]) {
        const frames = await sseData(`${broker.url}/v2/queries/${q.plan.uid}/completion?replay=fast`);
        assert.equal(frames.at(-1), '[DONE]');
        assert.equal(chunksIn(frames).length, q.chunkLines().length, `the chunks of ${q.plan.uid}`);
        assert.deepEqual(chunksIn(frames), q.chunkLines());
      }
    });

    it('GET /v2/tool-calls?sessionId= shows the two tool calls', async () => {
      const res = await getJson(`${broker.url}/v2/tool-calls?sessionId=${encodeURIComponent(sessionId)}`);
      assert.deepEqual(
        res.body.items.map((t: any) => [t.toolId, t.queryId]),
        [first, second].map((q) => [q.plan.toolCall.id, q.plan.uid]),
      );
    });
  });

  describe('`ark-broker projections rebuild`', () => {
    it('gives the same GET /v2/sessions/:id answers', async () => {
      assert.ok(sessions.length >= orders.length + 1, 'the scenarios above ran');
      const read = () =>
        Promise.all(
          sessions.map(async (s) => {
            const res = await getJson(`${broker.url}/v2/sessions/${encodeURIComponent(s)}`);
            assert.equal(res.status, 200, s);
            return res.body;
          }),
        );
      const live = await read();
      const result = await runCli(['projections', 'rebuild'], { DATABASE_URL: broker.database.url });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await read(), live);
    });
  });
});
