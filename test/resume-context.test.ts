import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ArkQueryProducer, arkQueryPlan } from './support/ark-producer.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

// Issue #20, resume context: what an executor needs to resume a query that stopped, here one whose
// executor died while its tool ran. The producers send what Ark sends (support/ark-producer.ts): the
// controller's and executor's operation events as they happen, the chunks of the LLM call that asked
// for the tool (the upload never completed), no spans (Ark exports them when they end) and no
// messages (the executor saves them at the end). An earlier query of the same conversation finished.

describe('GET /v2/queries/:id/resume-context', () => {
  let broker: TestBroker;
  let earlier: ArkQueryProducer;
  let interrupted: ArkQueryProducer;

  before(async () => {
    broker = await startTestBroker();
    earlier = new ArkQueryProducer(broker.url, arkQueryPlan('resume-1', { sessionId: 'session-resume' }));
    await earlier.asArkDelivers();
    interrupted = new ArkQueryProducer(
      broker.url,
      arkQueryPlan('resume-2', {
        sessionId: 'session-resume',
        conversationId: earlier.plan.conversationId,
        input: 'And in Berlin?',
        toolCall: { id: 'call_berlin', name: 'get-weather', type: 'mcp', arguments: '{"city":"Berlin"}', result: 'rain, 14°C' },
        startedAt: Date.now() - 1_000,
      }),
    );
    // Every operation event before ToolCallStart: the query, memory read, agent, and the LLM call that asked for the tool.
    const bodies = interrupted.operationEventBodies();
    const toolStart = bodies.find((b) => b.reason === 'ToolCallStart')!;
    for (const body of bodies.slice(0, bodies.indexOf(toolStart))) {
      assert.equal((await postJson(`${broker.url}/events`, body)).status, 201);
    }
    // The chunks of the first LLM call: the tool call it asks for, streamed in pieces, its usage and
    // Ark's restatement of the whole call.
    const lines = interrupted.chunkLines().slice(0, 6);
    const upload = await fetch(`${broker.url}/stream/${interrupted.plan.name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: lines.map((l) => `${JSON.stringify(l)}\n`).join(''),
    });
    assert.equal(upload.status, 200);
    // ToolCallStart as Ark sends it, plus the MCP session and task ids an MCP tool reports (Ark's
    // tracker passes extra data fields through; the broker reads them when they are there).
    toolStart.data = { ...toolStart.data, mcpSessionId: 'mcp-session-7', mcpTaskId: 'mcp-task-42' };
    assert.equal((await postJson(`${broker.url}/events`, toolStart)).status, 201);
  });
  after(() => broker.close());

  const contextOf = async (id: string) => {
    const res = await getJson(`${broker.url}/v2/queries/${encodeURIComponent(id)}/resume-context`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };

  it('names the query, its target agent and where it stopped: in its tool call', async () => {
    const ctx = await contextOf(interrupted.plan.uid);
    (await import('node:fs')).writeFileSync('/tmp/retention2-ctx.json', JSON.stringify(ctx, null, 2));
    const p = interrupted.plan;
    assert.equal(ctx.query.queryId, p.uid);
    assert.equal(ctx.query.queryName, p.name);
    assert.equal(ctx.query.sessionId, 'session-resume');
    assert.equal(ctx.query.agent, p.agent);
    assert.equal(ctx.query.phase, 'running');
    assert.equal(ctx.stoppedAt.finished, false);
    assert.equal(ctx.stoppedAt.reason, 'tool_call');
    assert.equal(ctx.stoppedAt.lastEvent.type, 'tool.call.started');
    assert.equal(ctx.stoppedAt.lastEvent.sessionId, 'session-resume');
    assert.deepEqual(
      ctx.stoppedAt.openToolCalls.map((t: any) => [t.toolId, t.toolName, t.parameters]),
      // The tool_calls read model stores JSON arguments parsed.
      [['call_berlin', 'get-weather', { city: 'Berlin' }]],
    );
    assert.deepEqual(ctx.stoppedAt.openLlmCalls, []);
  });

  it('lists every tool call with its parameters (no result yet) and the MCP ids it reported', async () => {
    const ctx = await contextOf(interrupted.plan.name);
    assert.equal(ctx.toolCalls.items.length, 1);
    const [tool] = ctx.toolCalls.items;
    assert.equal(tool.status, 'started');
    assert.equal(tool.toolType, 'mcp');
    assert.deepEqual(tool.parameters, { city: 'Berlin' });
    assert.equal(tool.result, null);
    assert.equal(tool.mcpSessionId, 'mcp-session-7');
    assert.equal(tool.mcpTaskId, 'mcp-task-42');
    assert.deepEqual(ctx.mcp, { sessionIds: ['mcp-session-7'], taskIds: ['mcp-task-42'] });
    assert.equal(ctx.llmCalls.total, 1);
    assert.equal(ctx.llmCalls.items[0].status, 'completed');
    assert.deepEqual(ctx.pendingApprovals, { items: [], total: 0, truncated: false });
  });

  it('gives the last completion assembled from its chunks: the tool call the LLM asked for', async () => {
    const ctx = await contextOf(interrupted.plan.uid);
    assert.equal(ctx.lastCompletion.text, '');
    assert.equal(ctx.lastCompletion.finishReason, 'tool_calls');
    assert.deepEqual(ctx.lastCompletion.toolCalls, [{ id: 'call_berlin', name: 'get-weather', arguments: '{"city":"Berlin"}' }]);
    assert.equal(ctx.lastCompletion.chunks, 6);
  });

  it("carries the conversation's messages so far, oldest first", async () => {
    const ctx = await contextOf(interrupted.plan.uid);
    assert.equal(ctx.conversation.conversationId, earlier.plan.conversationId);
    assert.deepEqual(
      ctx.conversation.messages.items.map((m: any) => m.message),
      earlier.messagesBody().messages,
    );
    assert.equal(ctx.conversation.messages.truncated, false);
  });

  it('for a finished query: done, each tool call with its result, the answer as the last completion', async () => {
    const ctx = await contextOf(earlier.plan.uid);
    assert.equal(ctx.stoppedAt.finished, true);
    assert.equal(ctx.stoppedAt.reason, 'done');
    assert.deepEqual(ctx.stoppedAt.openToolCalls, []);
    assert.equal(ctx.toolCalls.items[0].result, earlier.plan.toolCall.result);
    assert.equal(ctx.toolCalls.items[0].status, 'completed');
    assert.equal(ctx.lastCompletion.text, earlier.plan.response);
    assert.equal(ctx.lastCompletion.finishReason, 'stop');
    assert.equal(ctx.query.input, earlier.plan.input);
    assert.deepEqual(ctx.query.target, { type: 'agent', name: earlier.plan.agent });
  });

  it('answers 404 for a query it does not know', async () => {
    const res = await getJson(`${broker.url}/v2/queries/nope/resume-context`);
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'not_found');
  });
});
