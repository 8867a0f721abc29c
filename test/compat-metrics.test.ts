import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

/** The value of an unlabelled sample in a Prometheus text exposition. */
function sample(body: string, metric: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${metric} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe("upstream's broker_*_count gauges on GET /metrics (ark PR #3093)", () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('reports the whole database under upstream names, without labels', async () => {
    const op = (queryName: string, reason: string) => ({ reason, data: { queryId: `uid-${queryName}`, queryName, sessionId: 'metrics-session' } });
    assert.equal((await postJson(`${broker.url}/events`, op('metrics-a', 'QueryExecutionStart'))).status, 201);
    assert.equal((await postJson(`${broker.url}/events`, op('metrics-b', 'AgentExecutionStart'))).status, 201);
    const message = await postJson(`${broker.url}/messages`, {
      conversation_id: 'metrics-conv',
      query_id: 'metrics-a',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(message.status, 200);
    const span = { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), name: 'llm.chat', startTimeUnixNano: '1', endTimeUnixNano: '2' };
    assert.equal((await postJson(`${broker.url}/v1/traces`, { resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] })).status, 200);
    const upload = await fetch(`${broker.url}/stream/metrics-a`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: '{"c":1}\n{"c":2}\n',
    });
    assert.equal(upload.status, 200);

    const scrape = await fetch(`${broker.url}/metrics`);
    assert.equal(scrape.status, 200);
    const body = await scrape.text();
    for (const metric of [
      'broker_messages_count',
      'broker_chunks_count',
      'broker_spans_count',
      'broker_events_count',
      'broker_sessions_count',
      'broker_session_queries_count',
    ]) {
      assert.match(body, new RegExp(`^# TYPE ${metric} gauge$`, 'm'), metric);
      assert.doesNotMatch(body, new RegExp(`^${metric}\\{`, 'm'), `${metric} has no labels`);
    }
    assert.equal(sample(body, 'broker_sessions_count'), 1);
    assert.equal(sample(body, 'broker_session_queries_count'), 2);
    assert.equal(sample(body, 'broker_events_count'), 2);
    assert.equal(sample(body, 'broker_messages_count'), 1);
    assert.equal(sample(body, 'broker_spans_count'), 1);
    assert.equal(sample(body, 'broker_chunks_count'), 2);
  });

  it('serves the counts from a short cache between scrapes', async () => {
    const first = sample(await (await fetch(`${broker.url}/metrics`)).text(), 'broker_events_count');
    await postJson(`${broker.url}/events`, { reason: 'QueryExecutionStart', data: { queryId: 'uid-c', queryName: 'metrics-c', sessionId: 'metrics-session' } });
    assert.equal(sample(await (await fetch(`${broker.url}/metrics`)).text(), 'broker_events_count'), first, 'read at most once per 30 s');
  });
});

describe("the executors' work queue on GET /metrics", () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('reports the queries by phase across tenants: ark_broker_query_executions{phase}', async () => {
    for (let i = 0; i < 4; i++) {
      const submit = await postJson(`${broker.url}/v2/queries`, {
        queryId: `metrics-q${i}`,
        name: `q${i}`,
        namespace: 'metrics',
        target: { type: 'agent', name: 'a' },
        input: 'hi',
      });
      assert.equal(submit.status, 201);
    }
    const claim = async (executor: string, max: number) => {
      const answer = await postJson(`${broker.url}/v2/executors/${executor}/claims`, { max, namespaces: ['metrics'] });
      assert.equal(answer.status, 200);
      return (answer.body as { items: { queryId: string; attempt: number }[] }).items;
    };
    await claim('metrics-a', 1);
    const [running] = await claim('metrics-b', 1);
    const report = await postJson(`${broker.url}/v2/queries/${running!.queryId}/phase`, {
      executorId: 'metrics-b',
      attempt: running!.attempt,
      phase: 'running',
    });
    assert.equal(report.status, 200);

    const body = await (await fetch(`${broker.url}/metrics`)).text();
    assert.match(body, /^# TYPE ark_broker_query_executions gauge$/m);
    assert.equal(sample(body, 'ark_broker_query_executions{phase="pending"}'), 2);
    assert.equal(sample(body, 'ark_broker_query_executions{phase="assigned"}'), 1);
    assert.equal(sample(body, 'ark_broker_query_executions{phase="running"}'), 1);
  });
});
