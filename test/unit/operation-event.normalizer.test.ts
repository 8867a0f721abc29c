/**
 * normalizeOperationEvent: the bodies Ark's controller POSTs to `/events` (a Kubernetes-event-like
 * envelope with `reason` and a string map `data`) → one ark event each.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeOperationEvent, type OperationEvent } from '#ark/normalizer';

function body(reason: string, data: Record<string, unknown> = {}, extra: Partial<OperationEvent> = {}): OperationEvent {
  return {
    timestamp: '2024-06-10T06:13:20.5Z',
    eventType: 'Normal',
    reason,
    message: `${reason} for weather-report`,
    data: { queryId: '3f1c2a9e-uid', queryName: 'weather-report', queryNamespace: 'default', sessionId: 'sess-1', ...data },
    ...extra,
  };
}

const dataOf = (b: OperationEvent) => normalizeOperationEvent(b).event.data as Record<string, unknown>;

describe('operation event normalizer: reasons → types', () => {
  const cases: [reason: string, type: string, data?: Record<string, unknown>][] = [
    ['QueryExecutionStart', 'query.started'],
    ['QueryExecutionComplete', 'query.completed'],
    ['QueryExecutionComplete', 'query.failed', { error: 'agent failed' }],
    ['QueryExecutionError', 'query.failed'],
    ['QueryExecutionCanceled', 'query.canceled'],
    ['AgentExecutionStart', 'agent.started'],
    ['AgentExecutionComplete', 'agent.completed'],
    ['AgentExecutionError', 'agent.failed'],
    ['LLMCallStart', 'llm.call.started'],
    ['LLMCallComplete', 'llm.call.completed'],
    ['LLMCallError', 'llm.call.failed'],
    ['ToolCallStart', 'tool.call.started'],
    ['ToolCallComplete', 'tool.call.completed'],
    ['ToolCallComplete', 'tool.call.failed', { error: 'exit 1' }],
    ['ToolCallError', 'tool.call.failed'],
    ['TeamExecutionStart', 'team.started'],
    ['TeamExecutionComplete', 'team.completed'],
    ['TeamTurnStart', 'team.turn.started'],
    ['TeamTurnComplete', 'team.turn.completed'],
    ['TeamMemberStart', 'team.member.started'],
    ['TeamMemberError', 'team.member.failed'],
    ['A2AExecutionStart', 'a2a.task.updated'],
    ['A2AExecutionComplete', 'a2a.task.updated'],
    ['A2AExecutionError', 'a2a.task.updated'],
    ['MemoryAddMessagesStart', 'memory.add_messages.started'],
    ['MemoryAddMessagesComplete', 'memory.add_messages.completed'],
    ['MemoryGetMessagesError', 'memory.get_messages.failed'],
    // A known operation with an unknown phase, an unknown reason, none at all.
    ['QueryExecutionWaiting', 'operation.recorded'],
    ['ResolveTargetsComplete', 'operation.recorded'],
    ['', 'operation.recorded'],
  ];
  for (const [reason, type, data] of cases) {
    it(`${reason || '(no reason)'}${data?.error ? ' with an error' : ''} → ${type}`, () => {
      const normalized = normalizeOperationEvent(body(reason, data));
      assert.equal(normalized.event.type, type);
      assert.equal(normalized.event.source, 'operation-event');
      assert.equal((normalized.event.data as { reason: string }).reason, reason);
    });
  }

  it('reads a missing reason as empty', () => {
    const { event } = normalizeOperationEvent({ data: { queryId: 'uid-9' } });
    assert.equal(event.type, 'operation.recorded');
    assert.equal((event.data as { reason: string }).reason, '');
  });
});

describe('operation event normalizer: sessions and correlation', () => {
  it('takes data.sessionId as the session', () => {
    assert.equal(normalizeOperationEvent(body('QueryExecutionStart')).sessionId, 'sess-1');
  });

  it('falls back to the query UID when data.sessionId is missing or empty', () => {
    assert.equal(normalizeOperationEvent(body('QueryExecutionStart', { sessionId: undefined })).sessionId, '3f1c2a9e-uid');
    assert.equal(normalizeOperationEvent(body('QueryExecutionStart', { sessionId: '' })).sessionId, '3f1c2a9e-uid');
  });

  it('copies query UID, name, namespace (queryNamespace, then namespace) and user', () => {
    const { event } = normalizeOperationEvent(body('AgentExecutionStart', { userId: 'alice' }));
    assert.deepEqual([event.queryId, event.queryName, event.namespace, event.userId], ['3f1c2a9e-uid', 'weather-report', 'default', 'alice']);
    const other = normalizeOperationEvent(body('AgentExecutionStart', { queryNamespace: undefined, namespace: 'team-a', queryName: '' })).event;
    assert.deepEqual([other.namespace, other.queryName, other.userId], ['team-a', null, null]);
    assert.equal(other.traceId, undefined);
  });

  it('uses the producer timestamp as the time, and none when it is missing or not a date', () => {
    assert.equal(normalizeOperationEvent(body('QueryExecutionStart')).event.time?.toISOString(), '2024-06-10T06:13:20.500Z');
    assert.equal(normalizeOperationEvent(body('QueryExecutionStart', {}, { timestamp: undefined })).event.time, undefined);
    assert.equal(normalizeOperationEvent(body('QueryExecutionStart', {}, { timestamp: 'yesterday' })).event.time, undefined);
  });

  it('keeps the body as posted, with eventType and message', () => {
    const posted = body('QueryExecutionStart', { extra: 'kept' });
    const d = dataOf(posted);
    assert.deepEqual(d.operationEvent, posted);
    assert.equal(d.eventType, 'Normal');
    assert.equal(d.message, 'QueryExecutionStart for weather-report');
  });
});

describe('operation event normalizer: dedupe keys', () => {
  it('gives a retried body (the same bytes) the same key', () => {
    const first = normalizeOperationEvent(body('ToolCallComplete', { toolId: 'call_1' })).event.dedupeKey;
    const retry = normalizeOperationEvent(body('ToolCallComplete', { toolId: 'call_1' })).event.dedupeKey;
    assert.equal(retry, first);
    assert.match(first!, /^op:3f1c2a9e-uid:ToolCallComplete:call_1:[A-Za-z0-9_-]{16}$/);
  });

  it('names the tool id (toolId, then toolCallId), else the timestamp, else nothing', () => {
    assert.match(normalizeOperationEvent(body('ToolCallStart', { toolCallId: 'call_7' })).event.dedupeKey!, /^op:3f1c2a9e-uid:ToolCallStart:call_7:/);
    assert.match(normalizeOperationEvent(body('AgentExecutionStart')).event.dedupeKey!, /^op:3f1c2a9e-uid:AgentExecutionStart:2024-06-10T06:13:20.5Z:/);
    assert.match(normalizeOperationEvent(body('AgentExecutionStart', {}, { timestamp: undefined })).event.dedupeKey!, /^op:3f1c2a9e-uid:AgentExecutionStart::/);
  });

  it('keeps distinct events apart: another reason, tool, time or any other field of the body', () => {
    const key = (b: OperationEvent) => normalizeOperationEvent(b).event.dedupeKey;
    const base = key(body('LLMCallComplete'));
    const variants = [
      body('LLMCallStart'),
      body('LLMCallComplete', {}, { timestamp: '2024-06-10T06:13:21Z' }),
      body('LLMCallComplete', { agent: 'other-agent' }),
      body('LLMCallComplete', {}, { message: 'second call' }),
      body('LLMCallComplete', { queryId: 'another-uid' }),
    ];
    const keys = new Set(variants.map(key));
    assert.equal(keys.size, variants.length);
    assert.equal(keys.has(base), false);
  });
});

describe('operation event normalizer: family data', () => {
  const cases: { title: string; reason: string; data: Record<string, unknown>; expect: Record<string, unknown> }[] = [
    {
      title: 'tool call',
      reason: 'ToolCallComplete',
      data: {
        toolName: 'get_weather',
        toolType: 'mcp',
        toolId: 'call_1',
        parameters: '{"city":"Paris"}',
        result: 'sunny',
        mcpSessionId: 'mcp-1',
        durationMs: '85',
      },
      expect: {
        toolName: 'get_weather',
        toolType: 'mcp',
        toolId: 'call_1',
        parameters: '{"city":"Paris"}',
        result: 'sunny',
        mcpSessionId: 'mcp-1',
        durationMs: 85,
      },
    },
    {
      title: 'tool call, other field names',
      reason: 'ToolCallStart',
      data: { tool: 'search', toolCallId: 'call_2', input: { q: 'x' }, output: 'y', 'mcp.session.id': 'mcp-2' },
      expect: { toolName: 'search', toolType: null, toolId: 'call_2', parameters: { q: 'x' }, result: 'y', mcpSessionId: 'mcp-2' },
    },
    {
      title: 'tool call, nothing known',
      reason: 'ToolCallStart',
      data: {},
      expect: { toolName: null, toolId: null, parameters: null, result: null, mcpSessionId: null },
    },
    { title: 'LLM call', reason: 'LLMCallComplete', data: { model: 'gpt-4o', modelType: 'openai' }, expect: { model: 'gpt-4o', modelType: 'openai' } },
    { title: 'LLM call, modelName', reason: 'LLMCallStart', data: { modelName: 'claude' }, expect: { model: 'claude', modelType: null } },
    { title: 'agent', reason: 'AgentExecutionStart', data: { agent: 'weather-agent' }, expect: { agent: 'weather-agent' } },
    { title: 'agent, agentName', reason: 'AgentExecutionStart', data: { agentName: 'planner' }, expect: { agent: 'planner' } },
    {
      title: 'team turn',
      reason: 'TeamTurnStart',
      data: { teamName: 'research', member: 'analyst', turn: '2', strategy: 'round-robin' },
      expect: { team: 'research', member: 'analyst', turn: '2', strategy: 'round-robin' },
    },
    {
      title: 'query',
      reason: 'QueryExecutionComplete',
      data: { target: 'agent/weather-agent', input: 'Weather?', response: 'Cloudy', durationMs: 1200 },
      expect: { target: 'agent/weather-agent', input: 'Weather?', response: 'Cloudy', durationMs: 1200 },
    },
    {
      title: 'query, output as the response',
      reason: 'QueryExecutionComplete',
      data: { output: 'Sunny' },
      expect: { response: 'Sunny', target: null, input: null },
    },
    { title: 'query failure', reason: 'QueryExecutionError', data: { error: 'LLM timeout' }, expect: { error: 'LLM timeout' } },
    {
      title: 'a2a',
      reason: 'A2AExecutionComplete',
      data: { a2aServer: 'remote', taskId: 't-1', phase: 'completed' },
      expect: { server: 'remote', taskId: 't-1', state: 'completed' },
    },
    { title: 'a duration that is not a number is left out', reason: 'QueryExecutionComplete', data: { durationMs: '1.2s' }, expect: { durationMs: undefined } },
    { title: 'an empty error is no error', reason: 'QueryExecutionComplete', data: { error: '' }, expect: { error: undefined } },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const d = dataOf(body(c.reason, c.data));
      for (const [field, value] of Object.entries(c.expect)) assert.deepEqual(d[field], value, field);
    });
  }

  it('gives other families only duration and error', () => {
    const d = dataOf(body('MemoryAddMessagesComplete', { durationMs: '12', memory: 'default' }));
    assert.deepEqual(Object.keys(d).sort(), ['durationMs', 'eventType', 'message', 'operationEvent', 'reason']);
    assert.equal(d.durationMs, 12);
  });
});
