import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { BrokerClient, NotFoundError, UnauthorizedError, type ArkEvent, type WatchMessage } from '#ark/client';
import { startTestBroker, type TestBroker } from './support/test-broker.js';

// libs/client against a broker with authentication on (AUTH_MODE=jwt), over real HTTP.

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const token = (sub: string, roles: string[], tenant = 't1') =>
  new SignJWT({ sub, tenant, roles }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

const toolCallComplete = (n: number) => ({
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  eventType: 'Normal',
  reason: 'ToolCallComplete',
  message: 'tool call complete',
  data: {
    queryId: 'uid-ask',
    queryName: 'ask-1',
    queryNamespace: 'default',
    sessionId: 'questions-session',
    toolName: 'ask_question',
    toolType: 'mcp',
    toolId: `call-${n}`,
    mcpSessionId: 'mcp-session-42',
    parameters: { question: 'Which colour?' },
    result: 'blue',
  },
});

describe('typed client (libs/client)', () => {
  let broker: TestBroker;
  let admin: BrokerClient;

  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
    admin = new BrokerClient({ baseUrl: broker.url, token: await token('alice', ['producer', 'reader', 'admin']) });
  });
  after(() => broker.close());

  it('appends, lists and iterates sessions and events by cursor', async () => {
    const appended = await admin.appendEvents(Array.from({ length: 7 }, (_, i) => ({ sessionId: 'paged', type: 'custom.step', data: { step: i + 1 } })));
    assert.deepEqual(
      appended.items.map((e) => e.sequence),
      [1, 2, 3, 4, 5, 6, 7],
    );
    await admin.appendEvents({ sessionId: 'other', type: 'custom.step', data: { step: 1 } });

    const page = await admin.listSessionEvents('paged', { limit: 3 });
    assert.equal(page.items.length, 3);
    assert.equal(page.hasMore, true);
    const all: ArkEvent[] = [];
    for await (const event of admin.sessionEvents('paged', { limit: 2 })) all.push(event);
    assert.deepEqual(
      all.map((e) => e.sequence),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.deepEqual((all[6]!.data as { step: number }).step, 7);

    const sessionIds: string[] = [];
    for await (const session of admin.sessions({ limit: 1 })) sessionIds.push(session.sessionId);
    assert.deepEqual(sessionIds.sort(), ['other', 'paged']);
    const aggregate = await admin.getSession('paged');
    assert.equal(aggregate.session.lastSequence, 7);

    const feed: ArkEvent[] = [];
    for await (const event of admin.feed({ limit: 3 })) feed.push(event);
    assert.equal(feed.length, 8);
    const typed = await admin.listSessionEvents('paged', { types: ['custom.step', 'custom.none'] });
    assert.equal(typed.items.length, 7);
  });

  it('throws typed errors', async () => {
    await assert.rejects(admin.getSession('does-not-exist'), (error: unknown) => {
      assert.ok(error instanceof NotFoundError);
      assert.equal(error.status, 404);
      assert.equal(error.code, 'not_found');
      assert.ok(error.requestId);
      return true;
    });
    const anonymous = new BrokerClient({ baseUrl: broker.url });
    await assert.rejects(anonymous.listSessions(), UnauthorizedError);
    await assert.rejects(
      (async () => {
        for await (const _ of anonymous.watchFeed()) break;
      })(),
      UnauthorizedError,
    );
  });

  it('finds the MCP session of an ask_question tool call (the Questions-service example)', async () => {
    await admin.postOperationEvent(toolCallComplete(1));
    const calls = [];
    for await (const call of admin.toolCalls({ mcpSessionId: 'mcp-session-42' })) calls.push(call);
    const [call] = calls;
    assert.equal(call?.toolName, 'ask_question');
    assert.equal(call?.sessionId, 'questions-session');
    assert.equal(call?.queryId, 'uid-ask');
    assert.deepEqual(call?.parameters, { question: 'Which colour?' });
  });

  it('a watch resumes by Last-Event-ID after the connection drops: no event lost, none repeated', async () => {
    const opened: (string | null)[] = [];
    const client = new BrokerClient({
      baseUrl: broker.url,
      token: () => token('alice', ['reader', 'admin']),
      fetch: (input, init) => {
        opened.push(new Headers(init?.headers).get('last-event-id'));
        return fetch(input, init);
      },
    });
    await admin.appendEvents([1, 2, 3].map((step) => ({ sessionId: 'resumed', type: 'custom.step', data: { step } })));
    const received: WatchMessage<ArkEvent>[] = [];
    const reconnects: (string | undefined)[] = [];
    const controller = new AbortController();
    for await (const message of client.watchSessionEvents('resumed', {
      signal: controller.signal,
      reconnectDelayMs: 50,
      onReconnect: (r) => reconnects.push(r.lastEventId),
    })) {
      received.push(message);
      if (received.length === 3) {
        // Cut every connection of the server (the watch's with them), then append while it is down.
        broker.app.getHttpServer().closeAllConnections();
        await new Promise((resolve) => setTimeout(resolve, 100)); // the admin client's pool sees its sockets closed too
        await admin.appendEvents([4, 5].map((step) => ({ sessionId: 'resumed', type: 'custom.step', data: { step } })));
      }
      if (received.length === 5) controller.abort();
    }
    assert.deepEqual(
      received.map((m) => [m.id, m.data.sequence]),
      [
        ['1', 1],
        ['2', 2],
        ['3', 3],
        ['4', 4],
        ['5', 5],
      ],
    );
    assert.deepEqual(reconnects, ['3']);
    assert.deepEqual(opened, [null, '3']);
  });

  it('uploads chunks and replays the completion until [DONE]', async () => {
    await admin.postOperationEvent({
      ...toolCallComplete(2),
      reason: 'QueryExecutionStart',
      data: { queryId: 'uid-chat', queryName: 'chat-1', queryNamespace: 'default', sessionId: 'chat' },
    });
    async function* tokens() {
      for (const content of ['Hel', 'lo'])
        yield { id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }], ark: { query: 'uid-chat', session: 'chat' } };
    }
    const upload = await admin.uploadChunks('chat-1', tokens());
    assert.equal(upload.chunks_received, 2);
    assert.equal((await admin.completeChunks('chat-1')).status, 'completed');
    const text: string[] = [];
    for await (const message of admin.completion('uid-chat')) {
      const chunk = message.data as { choices?: { delta?: { content?: string } }[] };
      const content = chunk.choices?.[0]?.delta?.content;
      if (content) text.push(content);
    }
    assert.equal(text.join(''), 'Hello');
    const upstream: unknown[] = [];
    for await (const message of admin.chunks('chat-1', { fromBeginning: true })) upstream.push(message.data);
    assert.equal(upstream.length, 2);
  });

  it('exports OTLP JSON spans', async () => {
    const answer = await admin.exportTraces({
      resourceSpans: [
        {
          resource: { attributes: [] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '0af7651916cd43dd8448eb211c80319c',
                  spanId: 'b7ad6b7169203331',
                  name: 'query.otlp-q',
                  kind: 1,
                  startTimeUnixNano: '1767225600000000000',
                  endTimeUnixNano: '1767225601000000000',
                  attributes: [{ key: 'ark.session.id', value: { stringValue: 'otlp-session' } }],
                },
              ],
            },
          ],
        },
      ],
    });
    assert.deepEqual(answer, {});
    const page = await admin.listSessionEvents('otlp-session');
    assert.ok(page.items.length > 0);
  });
});
