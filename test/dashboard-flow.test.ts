import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ArkQueryProducer } from './support/ark-producer.js';
import { fixtureJson, fixtureText } from './support/fixtures.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const SESSION = 'dash-1';
const QUERY_ID = 'q-dash';
const QUERY_NAME = 'dash-query';

/** What a dashboard draws: per query its phase, tool calls, LLM calls' tokens and chunk progress. */
interface QueryNode {
  phase: string;
  tools: Record<string, string>;
  llm: Record<string, { input: number | null; output: number | null }>;
  chunks: number;
  streamCompleted: boolean;
}
interface Tree {
  queries: Record<string, QueryNode>;
  messages: number;
  lastSequence: number;
}

/** The tree of a `GET /v2/sessions/:id` aggregate (the snapshot message carries the same). */
function treeOf(aggregate: any): Tree {
  const queries: Record<string, QueryNode> = {};
  for (const q of aggregate.queries.items) {
    queries[q.queryName ?? q.queryKey] = {
      phase: q.phase,
      tools: Object.fromEntries(q.toolCalls.items.map((t: any) => [t.toolId ?? t.id, t.status])),
      llm: Object.fromEntries(q.llmCalls.items.map((l: any) => [l.spanId ?? l.id, { input: l.tokens.input, output: l.tokens.output }])),
      chunks: q.chunks.count,
      streamCompleted: q.chunks.streamCompleted,
    };
  }
  return { queries, messages: aggregate.messages.count, lastSequence: aggregate.session.lastSequence };
}

const FINAL_PHASE: Record<string, string> = { 'query.completed': 'done', 'query.failed': 'error', 'query.canceled': 'canceled' };
const CALL_STATUS: Record<string, string> = { 'tool.call.started': 'started', 'tool.call.completed': 'completed', 'tool.call.failed': 'failed' };

/** A dashboard's fold of one ark event into its tree. */
function apply(tree: Tree, e: any): void {
  tree.lastSequence = e.sequence;
  if (e.type === 'message.added') {
    tree.messages++;
    return;
  }
  // Every Ark source names the query by name as `queryName`: spans, operation events, and chunks
  // (the upload path's query, which Ark names by name; their `queryId` is the UID of `ark.query`).
  const name = e.queryName;
  if (!name) return;
  const q = (tree.queries[name] ??= { phase: 'running', tools: {}, llm: {}, chunks: 0, streamCompleted: false });
  if (FINAL_PHASE[e.type]) q.phase = FINAL_PHASE[e.type]!;
  const status = CALL_STATUS[e.type];
  if (status && e.data.toolId) {
    const known = q.tools[e.data.toolId];
    q.tools[e.data.toolId] = status === 'started' && known && known !== 'started' ? known : status;
  }
  if (e.type.startsWith('llm.call.') && e.spanId) q.llm[e.spanId] = { input: e.data.tokens?.input ?? null, output: e.data.tokens?.output ?? null };
  if (e.type === 'llm.chunk') q.chunks++;
  if (e.type === 'llm.stream.completed') q.streamCompleted = true;
}

const op = (reason: string, extra: Record<string, unknown> = {}) => ({
  timestamp: new Date().toISOString(),
  eventType: 'Normal',
  reason,
  message: `${reason} ${QUERY_NAME}`,
  data: { queryId: QUERY_ID, queryName: QUERY_NAME, queryNamespace: 'default', sessionId: SESSION, ...extra },
});

/** The chunk fixture's lines, with the `ark` metadata Ark's executor adds (the metadata fixture's fields). */
function chunkLines(): string[] {
  const metadata = JSON.parse(fixtureText('chunk-ark-metadata-field.jsonc').replace(/\/\/.*$/gm, '')) as { ark: Record<string, string> };
  const ark = { ...metadata.ark, query: QUERY_ID, session: SESSION, agent: 'weather-agent', target: 'agent/weather-agent' };
  const lines = fixtureText('chunks-content-stream.ndjson').split('\n').filter(Boolean);
  return [...lines.slice(0, 3), ...lines.slice(0, 3), ...lines].map((l) => JSON.stringify({ ...JSON.parse(l), ark }));
}

/** One long chunked NDJSON upload, a line every few milliseconds, as the executor streams it. */
function streamChunks(url: string, lines: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    void (async () => {
      for (const line of lines) {
        req.write(`${line}\n`);
        await sleep(15);
      }
      req.end();
    })();
  });
}

/**
 * The query as Ark runs it (support/ark-producer.ts): its spans are exported as Ark's controller and
 * executor export them (no query UID on any span; query → target → agent → llm, tool, llm).
 */
const arkQuery = (url: string) =>
  new ArkQueryProducer(url, {
    uid: QUERY_ID,
    name: QUERY_NAME,
    namespace: 'default',
    sessionId: SESSION,
    conversationId: 'conv-dash',
    agent: 'weather-agent',
    model: 'gpt-4o',
    modelType: 'openai',
    input: 'weather in Paris?',
    response: 'It is sunny.',
    toolCall: { id: 'call-1', name: 'get-weather', type: 'mcp', arguments: '{"city":"Paris"}', result: 'sunny' },
    usage: [
      { prompt: 12, completion: 34 },
      { prompt: 56, completion: 7 },
    ],
    startedAt: Date.now(),
  });

/** An SSE body read to its end: `id:` and `data:` of each message. */
async function readSse(url: string): Promise<{ id: string; data: string }[]> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const text = await res.text();
  return text.split('\n\n').flatMap((frame) => {
    const data = frame
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6));
    const id =
      frame
        .split('\n')
        .find((l) => l.startsWith('id: '))
        ?.slice(4) ?? '';
    return data.length ? [{ id, data: data.join('\n') }] : [];
  });
}

describe('live dashboard flow (OTLP, operation events and chunks while a session is watched)', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('a client that folds the watch (snapshot, then events) ends with the tree GET /v2/sessions/:id answers; the completion view interleaves in log order, live as replayed', async () => {
    const url = broker.url;
    const query = arkQuery(url);
    assert.equal((await postJson(`${url}/events`, op('QueryExecutionStart', { targetType: 'agent', agent: 'weather-agent' }))).status, 201);
    assert.equal((await postJson(`${url}/events`, op('AgentExecutionStart', { agent: 'weather-agent' }))).status, 201);
    const lines = chunkLines();
    assert.equal(await streamChunks(`${url}/stream/${QUERY_NAME}`, lines.slice(0, 2)), 200);

    // The dashboard opens the session and a completion view while the query runs.
    const watch = new RecordingEventSource(`${url}/v2/sessions/${SESSION}?watch=true`);
    const liveCompletion = readSse(`${url}/v2/queries/${QUERY_ID}/completion`);
    const [snapshot] = await watch.waitFor(1);
    assert.equal(snapshot!.data.type, 'snapshot');
    const tree = treeOf(snapshot!.data.aggregate);
    assert.equal(tree.lastSequence, snapshot!.data.sequence);
    assert.equal(tree.queries[QUERY_NAME]?.phase, 'running');
    assert.equal(tree.queries[QUERY_NAME]?.chunks, 2, 'the snapshot has what happened before the watch');

    // The rest of the query, concurrently from its three sources.
    const uploading = streamChunks(`${url}/stream/${QUERY_NAME}`, lines.slice(2));
    const events = (async () => {
      for (const body of [
        op('ToolCallStart', { toolName: 'get-weather', toolId: 'call-1', toolType: 'mcp', parameters: { city: 'Paris' } }),
        op('ToolCallComplete', { toolName: 'get-weather', toolId: 'call-1', result: 'sunny', durationMs: '120' }),
      ]) {
        assert.equal((await postJson(`${url}/events`, body)).status, 201);
        await sleep(30);
      }
    })();
    await Promise.all([uploading.then((status) => assert.equal(status, 200)), events, query.spans()]);
    assert.equal((await fetch(`${url}/stream/${QUERY_NAME}/complete`, { method: 'POST' })).status, 200);
    const messages = fixtureJson('memory-api-post-messages-request.json');
    assert.equal((await postJson(`${url}/messages`, { ...messages, query_id: QUERY_NAME })).status, 200);
    assert.equal((await postJson(`${url}/events`, op('AgentExecutionComplete', { agent: 'weather-agent' }))).status, 201);
    assert.equal((await postJson(`${url}/events`, op('QueryExecutionComplete'))).status, 201);

    const final = (await getJson(`${url}/v2/sessions/${SESSION}`)).body;
    const total = final.session.lastSequence;
    const received = await watch.waitFor(1 + total - snapshot!.data.sequence);
    watch.close();
    const after = received.slice(1);
    assert.deepEqual(
      after.map((m) => Number(m.id)),
      after.map((_, i) => snapshot!.data.sequence + 1 + i),
      'every event after the snapshot once, in sequence',
    );
    for (const m of after) apply(tree, m.data);

    const expected = treeOf(final);
    assert.deepEqual(tree, expected);
    // The tree has what the three sources said, merged: one tool call from its operation events and its span.
    const q = expected.queries[QUERY_NAME]!;
    assert.equal(q.phase, 'done');
    assert.deepEqual(q.tools, { 'call-1': 'completed' });
    assert.deepEqual(
      Object.values(q.llm).sort((a, b) => a.input! - b.input!),
      [
        { input: 12, output: 34 },
        { input: 56, output: 7 },
      ],
    );
    assert.equal(q.chunks, lines.length);
    assert.equal(q.streamCompleted, true);
    assert.equal(expected.messages, messages.messages.length);

    // Completion view: chunks and the query's other events in feed (log) order, up to the stream's or the query's end,
    // the same live as replayed afterwards.
    const live = await liveCompletion;
    const replayed = await readSse(`${url}/v2/queries/${QUERY_ID}/completion?replay=fast`);
    assert.deepEqual(live, replayed);
    assert.equal(live.at(-1)!.data, '[DONE]');
    const { rows } = await broker.sql.query<{ type: string; data: any; tx: string; pos: string }>(
      `SELECT type, data, transaction_id::text AS tx, global_position::text AS pos FROM events
       WHERE query_id = ANY($1) OR (source = 'chunk' AND query_name = ANY($1)) ORDER BY transaction_id, global_position`,
      [[QUERY_ID, QUERY_NAME]],
    );
    const ends = ['llm.stream.completed', 'query.completed', 'query.failed', 'query.canceled'];
    const upToEnd = rows.slice(0, rows.findIndex((r) => ends.includes(r.type)) + 1);
    const shown = live.slice(0, -1).map((m) => JSON.parse(m.data));
    assert.deepEqual(
      shown.map((s) => (s.type === 'event' ? s.event.type : 'llm.chunk')),
      upToEnd.map((r) => r.type),
    );
    assert.deepEqual(
      live.slice(0, -1).map((m) => m.id),
      upToEnd.map((r) => `${r.tx}:${r.pos}`),
    );
    assert.deepEqual(
      shown.filter((s) => s.type !== 'event'),
      upToEnd.filter((r) => r.type === 'llm.chunk').map((r) => r.data.chunk),
    );
    assert.ok(shown.some((s) => s.type === 'event') && shown.some((s) => s.object === 'chat.completion.chunk'), 'both kinds interleaved');
  });
});
