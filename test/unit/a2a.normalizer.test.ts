/** A2A task updates in the protocol's JSON shapes (v1.0 StreamResponse as `@a2a-js/sdk` writes it, v0.3 objects) → `a2a.task.*` events. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamResponse, TaskState } from '@a2a-js/sdk';
import { A2A_TASK_ARTIFACT, A2A_TASK_STATUS } from '#ark/event-store';
import { A2aPayloadError, a2aStateName, normalizeA2aUpdate } from '#ark/normalizer';

const text = (value: string) => ({ content: { $case: 'text' as const, value }, metadata: undefined, filename: '', mediaType: '' });

describe('A2A normalizer', () => {
  const states: [unknown, string | null][] = [
    ['TASK_STATE_SUBMITTED', 'submitted'],
    ['TASK_STATE_INPUT_REQUIRED', 'input-required'],
    ['TASK_STATE_AUTH_REQUIRED', 'auth-required'],
    ['TASK_STATE_UNSPECIFIED', 'unknown'],
    ['working', 'working'],
    ['input-required', 'input-required'],
    [3, 'completed'],
    [42, 'unknown'],
    ['made-up', 'unknown'],
    ['', null],
    [undefined, null],
  ];
  for (const [input, expected] of states) {
    it(`reads state ${JSON.stringify(input)} as ${JSON.stringify(expected)}`, () => assert.equal(a2aStateName(input), expected));
  }

  it('reads a status update as the SDK serialises it', () => {
    const json = StreamResponse.toJSON({
      payload: {
        $case: 'statusUpdate',
        value: {
          taskId: 't1',
          contextId: 'c1',
          status: { state: TaskState.TASK_STATE_WORKING, timestamp: '2026-03-01T10:00:00.000Z', message: undefined },
          metadata: { a: 1 },
        },
      },
    });
    const [event, ...rest] = normalizeA2aUpdate(json);
    assert.equal(rest.length, 0);
    assert.equal(event!.type, A2A_TASK_STATUS);
    assert.equal(event!.source, 'api');
    assert.deepEqual(event!.time, new Date('2026-03-01T10:00:00.000Z'));
    assert.equal(event!.dedupeKey, 'a2a:t1:status:working:2026-03-01T10:00:00.000Z');
    assert.deepEqual(event!.data, {
      taskId: 't1',
      contextId: 'c1',
      state: 'working',
      message: null,
      timestamp: '2026-03-01T10:00:00.000Z',
      final: null,
      metadata: { a: 1 },
    });
  });

  it('reads an artifact update and a task snapshot; the same artifact twice has one dedupe key, another chunk another', () => {
    const artifact = { artifactId: 'a', name: 'out', description: '', parts: [text('hi')], metadata: undefined, extensions: [] };
    const update = StreamResponse.toJSON({
      payload: { $case: 'artifactUpdate', value: { taskId: 't1', contextId: 'c1', artifact, append: true, lastChunk: true, metadata: undefined } },
    });
    const [event] = normalizeA2aUpdate(update);
    assert.equal(event!.type, A2A_TASK_ARTIFACT);
    assert.deepEqual(event!.data, {
      taskId: 't1',
      contextId: 'c1',
      artifactId: 'a',
      name: 'out',
      description: null,
      parts: [{ text: 'hi' }],
      append: true,
      lastChunk: true,
      metadata: null,
    });
    assert.equal(normalizeA2aUpdate(update)[0]!.dedupeKey, event!.dedupeKey);
    const other = { ...artifact, parts: [text('ho')] };
    const next = StreamResponse.toJSON({
      payload: { $case: 'artifactUpdate', value: { taskId: 't1', contextId: 'c1', artifact: other, append: true, lastChunk: true, metadata: undefined } },
    });
    assert.notEqual(normalizeA2aUpdate(next)[0]!.dedupeKey, event!.dedupeKey);

    const task = StreamResponse.toJSON({
      payload: {
        $case: 'task',
        value: {
          id: 't1',
          contextId: 'c1',
          status: { state: TaskState.TASK_STATE_COMPLETED, timestamp: undefined, message: undefined },
          artifacts: [artifact, other],
          history: [],
          metadata: undefined,
        },
      },
    });
    assert.deepEqual(
      normalizeA2aUpdate(task).map((e) => [e.type, (e.data as { state?: string; artifactId?: string }).state ?? (e.data as { parts: unknown[] }).parts]),
      [
        [A2A_TASK_STATUS, 'completed'],
        [A2A_TASK_ARTIFACT, [{ text: 'hi' }]],
        [A2A_TASK_ARTIFACT, [{ text: 'ho' }]],
      ],
    );
  });

  it('reads v0.3 objects, bare or as a JSON-RPC result', () => {
    const status = { kind: 'status-update', taskId: 't2', contextId: 'c2', status: { state: 'failed' }, final: true };
    for (const body of [status, { jsonrpc: '2.0', id: 1, result: status }]) {
      const [event] = normalizeA2aUpdate(body);
      assert.equal((event!.data as { state: string }).state, 'failed');
      assert.equal((event!.data as { final: boolean }).final, true);
      assert.match(event!.dedupeKey!, /^a2a:t2:status:failed:[0-9a-f]{32}$/, 'without a timestamp the status itself keys it');
    }
    assert.equal(normalizeA2aUpdate({ kind: 'task', id: 't3', status: { state: 'submitted' } }).length, 1);
  });

  const bad: [string, unknown][] = [
    ['not an object', 'x'],
    ['a message', { kind: 'message', parts: [] }],
    ['a status without state', { statusUpdate: { taskId: 't', status: {} } }],
    ['a status update without status', { kind: 'status-update', taskId: 't' }],
    ['no task id', { statusUpdate: { status: { state: 'working' } } }],
    ['an artifact without id', { artifactUpdate: { taskId: 't', artifact: { parts: [] } } }],
    ['an artifact without parts', { artifactUpdate: { taskId: 't', artifact: { artifactId: 'a' } } }],
    ['a task without id', { task: { status: { state: 'working' } } }],
  ];
  for (const [what, body] of bad) {
    it(`refuses ${what}`, () => assert.throws(() => normalizeA2aUpdate(body), A2aPayloadError));
  }
});
