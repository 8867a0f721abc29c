/**
 * A2A task updates: a simulated remote agent built on `@a2a-js/sdk` (its push-notification sender
 * and types) reports a task of an Ark query to `POST /v2/queries/:id/a2a`; the session aggregate
 * shows the task under its query with its state history and artifacts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { TaskState, type Artifact, type StreamResponse, type Task, type TaskStatus } from '@a2a-js/sdk';
import { DefaultPushNotificationSender, InMemoryPushNotificationStore, ServerCallContext } from '@a2a-js/sdk/server';
import { eventually } from './support/eventually.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const SECRET = 'a2a-suite-secret-a2a-suite-secret-a2a-suite';
const token = (sub: string, tenant: string, roles: string[]) =>
  new SignJWT({ sub, tenant, roles }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

const text = (value: string) => ({ content: { $case: 'text' as const, value }, metadata: undefined, filename: '', mediaType: 'text/plain' });

/** A remote A2A agent that pushes its task's updates to the URL a client registered, with the SDK's sender (A2A v1.0 wire format). */
class SimulatedRemoteAgent {
  private readonly context = new ServerCallContext({ requestedVersion: '1.0' });
  private readonly store = new InMemoryPushNotificationStore();
  private readonly sender = new DefaultPushNotificationSender(this.store, { timeout: 5_000 });

  constructor(
    readonly taskId: string,
    readonly contextId: string,
  ) {}

  /** What an A2A client (Ark's A2A execution) registers: where to push, with the broker credentials. */
  register(url: string, bearer: string): Promise<void> {
    return this.store.save(this.taskId, this.context, {
      tenant: '',
      id: '',
      taskId: this.taskId,
      url,
      token: '',
      authentication: { scheme: 'Bearer', credentials: bearer },
    });
  }

  status(state: TaskState, timestamp: string, message?: string): Promise<void> {
    return this.push({
      $case: 'statusUpdate',
      value: { taskId: this.taskId, contextId: this.contextId, status: this.statusOf(state, timestamp, message), metadata: undefined },
    });
  }

  artifact(artifact: Artifact, append: boolean, lastChunk: boolean): Promise<void> {
    return this.push({ $case: 'artifactUpdate', value: { taskId: this.taskId, contextId: this.contextId, artifact, append, lastChunk, metadata: undefined } });
  }

  task(task: Task): Promise<void> {
    return this.push({ $case: 'task', value: task });
  }

  statusOf(state: TaskState, timestamp: string, message?: string): TaskStatus {
    return {
      state,
      timestamp,
      message:
        message === undefined
          ? undefined
          : {
              messageId: `m-${timestamp}`,
              contextId: this.contextId,
              taskId: this.taskId,
              role: 2,
              parts: [text(message)],
              metadata: undefined,
              extensions: [],
              referenceTaskIds: [],
            },
    };
  }

  private push(payload: StreamResponse['payload']): Promise<void> {
    return this.sender.send({ payload }, this.context);
  }
}

describe('A2A task updates', () => {
  let broker: TestBroker;
  const auth: Record<string, Record<string, string>> = {};
  let producer = '';

  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
    producer = await token('ark', 'ta', ['producer']);
    auth.producer = { authorization: `Bearer ${producer}` };
    auth.producerB = { authorization: `Bearer ${await token('ark', 'tb', ['producer'])}` };
    auth.admin = { authorization: `Bearer ${await token('boss', 'ta', ['admin'])}` };
    auth.alice = { authorization: `Bearer ${await token('alice', 'ta', ['reader'])}` };
    const started = (queryId: string, queryName: string, sessionId: string) =>
      postJson(
        `${broker.url}/events`,
        {
          timestamp: '2026-03-01T10:00:00Z',
          eventType: 'Normal',
          reason: 'QueryExecutionStart',
          message: 'started',
          data: { queryId, queryName, queryNamespace: 'default', sessionId, userId: 'alice' },
        },
        auth.producer,
      );
    assert.equal((await started('uid-weather', 'weather', 's-a2a')).status, 201);
    assert.equal((await started('uid-other', 'other', 's-a2a')).status, 201);
  });
  after(() => broker.close());

  const aggregateQuery = async (name: string) => {
    const res = await getJson(`${broker.url}/v2/sessions/s-a2a`, auth.alice);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.queries.items.find((q: any) => q.queryName === name);
  };

  it("shows a remote agent's task under its query, with its state history and artifacts", async () => {
    const agent = new SimulatedRemoteAgent('task-xyz', 'ctx-1');
    await agent.register(`${broker.url}/v2/queries/uid-weather/a2a`, producer);
    await agent.status(TaskState.TASK_STATE_SUBMITTED, '2026-03-01T10:00:01.000Z');
    await agent.status(TaskState.TASK_STATE_WORKING, '2026-03-01T10:00:02.000Z', 'looking it up');
    await eventually(
      'the pending task shows',
      () => aggregateQuery('weather'),
      (q) => q?.a2aTasks?.[0]?.state === 'working',
      10_000,
    );
    await agent.artifact(
      { artifactId: 'forecast', name: 'forecast', description: '', parts: [text('Sunny')], metadata: undefined, extensions: [] },
      false,
      false,
    );
    await agent.artifact(
      { artifactId: 'forecast', name: 'forecast', description: '', parts: [text(', 21°C')], metadata: undefined, extensions: [] },
      true,
      true,
    );
    await agent.status(TaskState.TASK_STATE_COMPLETED, '2026-03-01T10:00:03.000Z', 'done');
    // A redelivery changes nothing.
    await agent.status(TaskState.TASK_STATE_COMPLETED, '2026-03-01T10:00:03.000Z', 'done');

    const query = await eventually(
      'the task completes',
      () => aggregateQuery('weather'),
      (q) => q?.a2aTasks?.[0]?.state === 'completed',
      10_000,
    );
    assert.equal(query.a2aTasks.length, 1);
    const task = query.a2aTasks[0];
    assert.equal(task.taskId, 'task-xyz');
    assert.equal(task.contextId, 'ctx-1');
    assert.equal(task.final, true);
    assert.deepEqual(
      task.states.map((s: any) => [s.state, s.at]),
      [
        ['submitted', '2026-03-01T10:00:01.000Z'],
        ['working', '2026-03-01T10:00:02.000Z'],
        ['completed', '2026-03-01T10:00:03.000Z'],
      ],
    );
    assert.deepEqual(task.states[1].message.parts, [{ text: 'looking it up', mediaType: 'text/plain' }]);
    assert.deepEqual(task.artifacts, [
      {
        artifactId: 'forecast',
        name: 'forecast',
        description: null,
        parts: [
          { text: 'Sunny', mediaType: 'text/plain' },
          { text: ', 21°C', mediaType: 'text/plain' },
        ],
        complete: true,
      },
    ]);
    assert.deepEqual((await aggregateQuery('other')).a2aTasks, []);

    // In the session's events: one per update, the redelivery not stored again.
    const events = await getJson(`${broker.url}/v2/sessions/s-a2a/events?types=a2a.task.status,a2a.task.artifact`, auth.admin);
    assert.deepEqual(
      events.body.items.map((e: any) => [e.type, e.queryId, e.queryName, e.data.state ?? e.data.artifactId]),
      [
        ['a2a.task.status', 'uid-weather', 'weather', 'submitted'],
        ['a2a.task.status', 'uid-weather', 'weather', 'working'],
        ['a2a.task.artifact', 'uid-weather', 'weather', 'forecast'],
        ['a2a.task.artifact', 'uid-weather', 'weather', 'forecast'],
        ['a2a.task.status', 'uid-weather', 'weather', 'completed'],
      ],
    );
    assert.equal(events.body.items[1].time, '2026-03-01T10:00:02.000Z', "the event's time is the status's timestamp");

    // A final Task snapshot re-sends the whole artifact: it replaces the chunks, same parts.
    await agent.task({
      id: 'task-xyz',
      contextId: 'ctx-1',
      status: agent.statusOf(TaskState.TASK_STATE_COMPLETED, '2026-03-01T10:00:03.000Z', 'done'),
      artifacts: [{ artifactId: 'forecast', name: 'forecast', description: '', parts: [text('Sunny, 21°C')], metadata: undefined, extensions: [] }],
      history: [],
      metadata: undefined,
    });
    const snapshot = await eventually(
      'the snapshot is folded in',
      () => aggregateQuery('weather'),
      (q) => q.a2aTasks[0].artifacts[0].parts.length === 1,
      10_000,
    );
    assert.deepEqual(snapshot.a2aTasks[0].artifacts[0].parts, [{ text: 'Sunny, 21°C', mediaType: 'text/plain' }]);
    assert.equal(snapshot.a2aTasks[0].states.length, 3, 'the same status again adds no state');
  });

  it("takes v0.3 objects and JSON-RPC responses too, and folds Ark's own A2AExecution events into the task", async () => {
    const updates = [
      { kind: 'status-update', taskId: 'task-v03', contextId: 'ctx-2', status: { state: 'submitted', timestamp: '2026-03-01T11:00:00.000Z' }, final: false },
      {
        jsonrpc: '2.0',
        id: 7,
        result: {
          kind: 'status-update',
          taskId: 'task-v03',
          contextId: 'ctx-2',
          status: { state: 'input-required', timestamp: '2026-03-01T11:00:01.000Z' },
          final: false,
        },
      },
      { kind: 'artifact-update', taskId: 'task-v03', artifact: { artifactId: 'a1', parts: [{ kind: 'data', data: { x: 1 } }] } },
    ];
    const res = await postJson(`${broker.url}/v2/queries/other/a2a`, updates, auth.producer);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.items.map((i: any) => [i.sessionId, i.duplicate]),
      [
        ['s-a2a', false],
        ['s-a2a', false],
        ['s-a2a', false],
      ],
    );
    const op = await postJson(
      `${broker.url}/events`,
      {
        timestamp: '2026-03-01T11:00:02Z',
        eventType: 'Normal',
        reason: 'A2AExecutionComplete',
        message: 'a2a done',
        data: {
          queryId: 'uid-other',
          queryName: 'other',
          queryNamespace: 'default',
          sessionId: 's-a2a',
          server: 'planner-agent',
          taskId: 'task-v03',
          state: 'completed',
        },
      },
      auth.producer,
    );
    assert.equal(op.status, 201);
    const [task] = (await aggregateQuery('other')).a2aTasks;
    assert.equal(task.taskId, 'task-v03');
    assert.equal(task.server, 'planner-agent');
    assert.deepEqual(
      task.states.map((s: any) => s.state),
      ['submitted', 'input-required', 'completed'],
    );
    assert.deepEqual(task.artifacts[0].parts, [{ kind: 'data', data: { x: 1 } }]);
  });

  it('refuses what is no task update, an unknown query, another tenant’s query and readers', async () => {
    const post = (path: string, body: unknown, who = 'producer') => postJson(`${broker.url}${path}`, body, auth[who]);
    for (const body of [
      { kind: 'message' },
      { statusUpdate: { taskId: 't' } },
      { statusUpdate: { taskId: '', status: { state: 'working' } } },
      [],
      'x',
      [{ task: {} }],
    ]) {
      const res = await post('/v2/queries/uid-weather/a2a', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(typeof res.body.error.message, 'string');
    }
    const update = { kind: 'status-update', taskId: 't1', status: { state: 'working' } };
    assert.equal((await post('/v2/queries/no-such-query/a2a', update)).status, 404);
    assert.equal((await post('/v2/queries/uid-weather/a2a', update, 'producerB')).status, 404, 'another tenant’s query is unknown');
    assert.equal((await post('/v2/queries/uid-weather/a2a', update, 'alice')).status, 403);
  });
});
