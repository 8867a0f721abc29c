import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { eventually } from './support/eventually.js';
import { ExecutorProcesses } from './support/executor-processes.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

/** dist/apps/executor-example/src/main.js, next to this compiled file's dist/test/. */
const EXECUTOR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../apps/executor-example/src/main.js');

const WORDS = ['Hello', ', ', 'world'];

/**
 * A small OpenAI-compatible chat endpoint: streams WORDS as `chat.completion.chunk`s. The first
 * request whose last message says "hang" streams one chunk and then never ends (an LLM call the
 * executor dies in); asked again, it answers.
 */
async function startFakeLlm(): Promise<{ url: string; hanging: (input: string) => boolean; close(): Promise<void> }> {
  const hung = new Set<string>();
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const { messages, model } = JSON.parse(body) as { messages: { content: string }[]; model: string };
      const last = messages.at(-1)?.content ?? '';
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (content: string) =>
        `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content } }] })}\n\n`;
      if (last.includes('hang') && !hung.has(last)) {
        hung.add(last);
        open.add(res);
        res.write(chunk(WORDS[0]!));
        return;
      }
      for (const word of WORDS) res.write(chunk(word));
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    hanging: (input) => hung.has(input),
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the sample executor (apps/executor-example) on the executor SDK', () => {
  let broker: TestBroker;
  let llm: Awaited<ReturnType<typeof startFakeLlm>>;
  const processes = new ExecutorProcesses();
  const startExecutor = (id: string, namespaces: string, extra: Record<string, string> = {}): ChildProcess =>
    processes.start(EXECUTOR, {
      BROKER_URL: broker.url,
      EXECUTOR_ID: id,
      EXECUTOR_NAMESPACES: namespaces,
      EXECUTOR_WAIT_SECONDS: '5',
      OPENAI_BASE_URL: llm.url,
      OPENAI_MODEL: 'fake-model',
      ...extra,
    });
  const stopExecutor = (child: ChildProcess, signal?: NodeJS.Signals) => processes.stop(child, signal);
  const submit = async (body: Record<string, unknown>) => {
    const res = await postJson(`${broker.url}/v2/queries`, { name: `q-${body.queryId as string}`, target: { type: 'model', name: 'fake' }, ...body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  };
  const execution = async (id: string) => (await getJson(`${broker.url}/v2/queries/${id}/execution`)).body;

  before(async () => {
    broker = await startTestBroker({ QUERY_SWEEP_INTERVAL_MS: '100' });
    llm = await startFakeLlm();
  });
  after(async () => {
    await processes.stopAll();
    await llm.close();
    await broker.close();
  });

  it('runs 100 queries over 4 executor processes in 2 namespaces: each done exactly once, by an executor of its namespace, its answer streamed', async () => {
    const executors = [startExecutor('exec-a1', 'ns-a'), startExecutor('exec-a2', 'ns-a'), startExecutor('exec-b1', 'ns-b'), startExecutor('exec-b2', 'ns-b')];
    const ids = Array.from({ length: 100 }, (_, n) => ({ id: randomUUID(), namespace: n % 2 ? 'ns-b' : 'ns-a' }));
    await Promise.all(ids.map(({ id, namespace }) => submit({ queryId: id, namespace, sessionId: `s-${namespace}`, input: `question ${id}` })));
    for (const namespace of ['ns-a', 'ns-b']) {
      await eventually(
        `every query of ${namespace} done`,
        () => getJson(`${broker.url}/v2/queries?namespace=${namespace}&phase=done&limit=1000`),
        (r) => r.body.items.length === 50,
        // Each query is ~10 requests; the whole suite shares two cores.
        300_000,
      );
    }
    for (const { id, namespace } of ids.slice(0, 30)) {
      const q = await execution(id);
      assert.equal(q.phase, 'done');
      assert.deepEqual(q.response, { content: 'Hello, world', model: 'fake-model' });
      assert.equal(q.attempt, 1);
      assert.ok(q.assignedExecutor.startsWith(namespace === 'ns-a' ? 'exec-a' : 'exec-b'), `${q.assignedExecutor} ran a query of ${namespace}`);
      assert.equal(q.history.filter((h: any) => h.type === 'query.assigned').length, 1);
      assert.equal(q.history.filter((h: any) => h.type === 'query.completed').length, 1);
    }
    // The chunks went to the query's stream and its session.
    const [first] = ids;
    const stream = await fetch(`${broker.url}/stream/q-${first!.id}?from-beginning=true`);
    const text = await stream.text();
    for (const word of WORDS) assert.ok(text.includes(JSON.stringify(word)), text);
    const events = (await getJson(`${broker.url}/v2/sessions/s-ns-a/events?limit=1000`)).body.items as any[];
    assert.ok(events.some((e) => e.type === 'llm.chunk' && e.queryId === first!.id));
    const listed = (await getJson(`${broker.url}/v2/executors`)).body.items.map((x: any) => x.executorId);
    for (const id of ['exec-a1', 'exec-a2', 'exec-b1', 'exec-b2']) assert.ok(listed.includes(id), `${id} in ${listed.join()}`);
    await Promise.all(executors.map((c) => stopExecutor(c)));
  });

  it('reassigns the query of an executor killed mid-query (reassign auto): attempt 2 finishes it, the dead one is fenced off', async () => {
    const id = randomUUID();
    const doomed = startExecutor('exec-doomed', 'ns-kill', { EXECUTOR_LEASE_SECONDS: '2' });
    await submit({ queryId: id, namespace: 'ns-kill', input: 'please hang' });
    await eventually(
      'the query running on exec-doomed',
      () => execution(id),
      (q) => q.phase === 'running' && q.assignedExecutor === 'exec-doomed',
    );
    await eventually('its LLM call under way', async () => llm.hanging('please hang'), Boolean);
    await stopExecutor(doomed, 'SIGKILL');
    const rescue = startExecutor('exec-rescue', 'ns-kill', { EXECUTOR_LEASE_SECONDS: '2' });
    const done = await eventually(
      'attempt 2 done',
      () => execution(id),
      (q) => q.phase === 'done',
      30_000,
    );
    assert.equal(done.attempt, 2);
    assert.equal(done.assignedExecutor, 'exec-rescue');
    assert.deepEqual(done.response, { content: 'Hello, world', model: 'fake-model' });
    // What the dead executor would have sent had it lived: refused.
    const late = await postJson(`${broker.url}/v2/queries/${id}/phase`, { executorId: 'exec-doomed', attempt: 1, phase: 'done', response: 'late' });
    assert.equal(late.status, 409);
    assert.deepEqual((await execution(id)).response, { content: 'Hello, world', model: 'fake-model' });
    await stopExecutor(rescue);
  });

  it('ends the query of a killed executor with ExecutorLost under reassign never; retry runs it again', async () => {
    const id = randomUUID();
    const doomed = startExecutor('exec-doomed-2', 'ns-never', { EXECUTOR_LEASE_SECONDS: '2' });
    await submit({ queryId: id, namespace: 'ns-never', input: 'hang again', reassign: 'never' });
    await eventually(
      'the query running',
      () => execution(id),
      (q) => q.phase === 'running',
    );
    await eventually('its LLM call under way', async () => llm.hanging('hang again'), Boolean);
    await stopExecutor(doomed, 'SIGKILL');
    const standby = startExecutor('exec-standby', 'ns-never', { EXECUTOR_LEASE_SECONDS: '2' });
    const lost = await eventually(
      'ExecutorLost',
      () => execution(id),
      (q) => q.phase === 'error',
      30_000,
    );
    assert.equal(lost.reason, 'ExecutorLost');
    assert.equal(lost.assignedExecutor, 'exec-doomed-2', 'the standby executor did not take it');
    assert.equal((await postJson(`${broker.url}/v2/queries/${id}/retry`, {})).status, 200);
    const done = await eventually(
      'the retry done',
      () => execution(id),
      (q) => q.phase === 'done',
      30_000,
    );
    assert.equal(done.attempt, 2);
    assert.equal(done.assignedExecutor, 'exec-standby');
    await stopExecutor(standby);
  });
});
