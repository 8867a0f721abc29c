/**
 * normalizeChunk: lines of a `POST /stream/<query>` upload (OpenAI chat-completion chunks as Ark's
 * executor streams them, with Ark's `ark` metadata) → `llm.chunk` / approval events.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkDedupeKey, normalizeChunk, streamCompletedEvent } from '#ark/normalizer';

function completionChunk(delta: Record<string, unknown>, finishReason: string | null = null, ark?: Record<string, unknown>) {
  return {
    id: 'chatcmpl-9xk2',
    object: 'chat.completion.chunk',
    created: 1718000000,
    model: 'gpt-4o',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
    ...(ark ? { ark } : {}),
  };
}

describe('chunk normalizer: llm.chunk', () => {
  const cases: { title: string; chunk: unknown }[] = [
    { title: 'content delta', chunk: completionChunk({ role: 'assistant', content: 'The weather' }) },
    {
      title: 'tool call delta: the first, with id and name',
      chunk: completionChunk({ tool_calls: [{ index: 0, id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    },
    { title: 'tool call delta: an arguments fragment', chunk: completionChunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) },
    { title: 'finish_reason tool_calls', chunk: completionChunk({}, 'tool_calls') },
    { title: 'finish_reason stop with usage', chunk: { ...completionChunk({}, 'stop'), usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } } },
    { title: 'a JSON string', chunk: 'plain text line' },
    { title: 'a JSON array', chunk: [1, 2, 3] },
    { title: 'null', chunk: null },
  ];
  for (const c of cases) {
    it(`${c.title}: stored as sent, with its index, in the query's session`, () => {
      const { sessionId, event } = normalizeChunk({ queryId: 'weather-report', chunk: c.chunk, index: 4 });
      assert.equal(sessionId, 'weather-report');
      assert.deepEqual(event, {
        type: 'llm.chunk',
        queryId: null,
        queryName: 'weather-report',
        source: 'chunk',
        dedupeKey: null,
        data: { chunk: c.chunk, index: 4 },
      });
    });
  }

  it('takes the session from ark.session and the query id (Ark: the UID) from ark.query; the query name is the upload path', () => {
    const ark = { query: 'weather-report-uid', session: 'sess-42', target: 'agent/weather-agent', agent: 'weather-agent', model: 'gpt-4o' };
    const { sessionId, event } = normalizeChunk({ queryId: 'weather-report', chunk: completionChunk({ content: 'Hi' }, null, ark), index: 0 });
    assert.equal(sessionId, 'sess-42');
    assert.equal(event.queryId, 'weather-report-uid');
    assert.equal(event.queryName, 'weather-report');
    assert.deepEqual((event.data as { chunk: { ark: unknown } }).chunk.ark, ark);
  });

  const arkCases: { title: string; ark: unknown; session: string; queryId: string | null }[] = [
    { title: 'an empty session', ark: { session: '', query: '' }, session: 'q', queryId: null },
    { title: 'a session that is not a string', ark: { session: 42, query: { id: 1 } }, session: 'q', queryId: null },
    { title: 'a session longer than 256 characters', ark: { session: 's'.repeat(257), query: 'n'.repeat(257) }, session: 'q', queryId: null },
    { title: 'a session of exactly 256 characters', ark: { session: 's'.repeat(256) }, session: 's'.repeat(256), queryId: null },
    { title: 'ark that is not an object', ark: 'sess-x', session: 'q', queryId: null },
  ];
  for (const c of arkCases) {
    it(`falls back to the query for ${c.title}`, () => {
      const { sessionId, event } = normalizeChunk({ queryId: 'q', chunk: { choices: [], ark: c.ark }, index: 0 });
      assert.equal(sessionId, c.session);
      assert.equal(event.queryId, c.queryId);
      assert.equal(event.queryName, 'q');
    });
  }

  it('passes the dedupe key through', () => {
    const key = chunkDedupeKey('weather-report', 'upload-7', 3);
    assert.equal(key, 'chunk:weather-report:line:upload-7:3');
    assert.equal(normalizeChunk({ queryId: 'weather-report', chunk: {}, index: 3, dedupeKey: key }).event.dedupeKey, key);
  });

  it('keys lines by upload and position: a resent upload repeats its keys, another upload does not', () => {
    assert.equal(chunkDedupeKey('q', 'k1', 0), chunkDedupeKey('q', 'k1', 0));
    const keys = new Set([chunkDedupeKey('q', 'k1', 0), chunkDedupeKey('q', 'k1', 1), chunkDedupeKey('q', 'k2', 0), chunkDedupeKey('r', 'k1', 0)]);
    assert.equal(keys.size, 4);
  });
});

describe('chunk normalizer: tool approvals', () => {
  const cases: { title: string; chunk: Record<string, unknown>; type: string; expect: Record<string, unknown> }[] = [
    {
      title: 'a request marked by type, camelCase fields',
      chunk: { type: 'tool_approval_request', taskId: 'task-1', toolCalls: [{ id: 'call_1', name: 'delete_file' }] },
      type: 'approval.requested',
      expect: { taskId: 'task-1', toolCalls: [{ id: 'call_1', name: 'delete_file' }], action: null },
    },
    {
      title: 'a request marked by object, snake_case fields',
      chunk: { object: 'tool_approval_request', request_id: 'req-2', tool_calls: [] },
      type: 'approval.requested',
      expect: { taskId: 'req-2', toolCalls: [], action: null },
    },
    {
      title: 'a request nested under its name',
      chunk: { id: 'chatcmpl-1', tool_approval_request: { approval_id: 'ap-3', toolCalls: ['x'] } },
      type: 'approval.requested',
      expect: { taskId: 'ap-3', toolCalls: ['x'], action: null },
    },
    {
      title: 'a response with an action',
      chunk: { type: 'tool_approval_response', task_id: 'task-1', action: 'approve' },
      type: 'approval.resolved',
      expect: { taskId: 'task-1', toolCalls: null, action: 'approve' },
    },
    {
      title: 'a response with a decision',
      chunk: { type: 'tool_approval_response', decision: 'deny' },
      type: 'approval.resolved',
      expect: { taskId: null, action: 'deny' },
    },
    { title: 'a response approved: true', chunk: { tool_approval_response: { approved: true } }, type: 'approval.resolved', expect: { action: 'approve' } },
    { title: 'a response approved: false', chunk: { tool_approval_response: { approved: false } }, type: 'approval.resolved', expect: { action: 'reject' } },
    {
      title: 'a response approved: "yes" (not a boolean)',
      chunk: { tool_approval_response: { approved: 'yes' } },
      type: 'approval.resolved',
      expect: { action: null },
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const { event } = normalizeChunk({ queryId: 'q', chunk: c.chunk, index: 2 });
      assert.equal(event.type, c.type);
      assert.equal(event.source, 'chunk');
      const d = event.data as Record<string, unknown>;
      assert.deepEqual(d.chunk, c.chunk);
      assert.equal(d.index, 2);
      for (const [field, value] of Object.entries(c.expect)) assert.deepEqual(d[field], value, field);
    });
  }

  it('does not take a nested marker that is not an object, or a marker in a delta, for an approval', () => {
    assert.equal(normalizeChunk({ queryId: 'q', chunk: { tool_approval_request: 'yes' }, index: 0 }).event.type, 'llm.chunk');
    assert.equal(normalizeChunk({ queryId: 'q', chunk: completionChunk({ content: 'tool_approval_request' }), index: 0 }).event.type, 'llm.chunk');
  });
});

describe('chunk normalizer: stream completion', () => {
  it('is one llm.stream.completed per query, purge watermark and run', () => {
    assert.deepEqual(streamCompletedEvent('weather-report', 'weather-report-uid', 12, 0), {
      type: 'llm.stream.completed',
      queryId: 'weather-report-uid',
      queryName: 'weather-report',
      source: 'chunk',
      dedupeKey: 'chunk:weather-report:completed:0:weather-report-uid',
      data: { chunkCount: 12 },
    });
    assert.equal(streamCompletedEvent('weather-report', null, 3, 40).dedupeKey, 'chunk:weather-report:completed:40');
  });

  it('never shares a key with an uploaded line, whatever the producer key', () => {
    assert.notEqual(chunkDedupeKey('q', 'completed', 0), streamCompletedEvent('q', null, 1, 0).dedupeKey);
  });
});
