/**
 * The MCP server at `/mcp`, driven by the official MCP SDK client over Streamable HTTP against a
 * running broker: tools and resources answer what the caller may see through REST, and nothing else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SignJWT } from 'jose';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const SECRET = 'mcp-suite-secret-mcp-suite-secret-mcp-suite';
const token = (sub: string, tenant: string, roles: string[]) =>
  new SignJWT({ sub, tenant, roles }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

type ToolResult = { isError?: boolean; content: { type: string; text: string }[] };

describe('MCP server (/mcp)', () => {
  let broker: TestBroker;
  const clients: Client[] = [];
  const bearer: Record<string, string> = {};

  async function connect(who: string): Promise<Client> {
    const client = new Client({ name: `test-${who}`, version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${broker.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${bearer[who]}` } } }),
    );
    clients.push(client);
    return client;
  }

  const call = async (client: Client, name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;
  const value = (result: ToolResult) => {
    assert.notEqual(result.isError, true, result.content[0]?.text);
    return JSON.parse(result.content[0]!.text);
  };

  /** One Ark query of `user` in `tenant`: start, an MCP tool call, two chunks, completion. */
  async function seedQuery(tenant: string, user: string, sessionId: string, queryId: string, mcpSessionId: string) {
    const producer = { authorization: `Bearer ${bearer[`producer-${tenant}`]}` };
    const op = (reason: string, timestamp: string, data: Record<string, unknown>) =>
      postJson(
        `${broker.url}/events`,
        {
          timestamp,
          eventType: 'Normal',
          reason,
          message: reason,
          data: { queryId, queryName: queryId, queryNamespace: 'default', sessionId, userId: user, ...data },
        },
        producer,
      );
    assert.equal((await op('QueryExecutionStart', '2026-03-01T10:00:00Z', { input: `question of ${user}` })).status, 201);
    assert.equal(
      (await op('ToolCallStart', '2026-03-01T10:00:01Z', { toolName: 'search', toolType: 'mcp', toolId: `call-${queryId}`, mcpSessionId })).status,
      201,
    );
    assert.equal(
      (await op('ToolCallComplete', '2026-03-01T10:00:02Z', { toolName: 'search', toolType: 'mcp', toolId: `call-${queryId}`, mcpSessionId, result: 'found' }))
        .status,
      201,
    );
    const chunks = ['Hello ', `${user}!`].map((content, i) =>
      JSON.stringify({
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: { content }, finish_reason: i === 1 ? 'stop' : null }],
        ark: { session: sessionId, query: queryId },
      }),
    );
    const upload = await fetch(`${broker.url}/stream/${queryId}`, {
      method: 'POST',
      headers: { ...producer, 'content-type': 'application/x-ndjson' },
      body: `${chunks.join('\n')}\n`,
    });
    assert.equal(upload.status, 200, await upload.text());
    assert.equal((await fetch(`${broker.url}/stream/${queryId}/complete`, { method: 'POST', headers: producer })).status, 200);
    assert.equal((await op('QueryExecutionComplete', '2026-03-01T10:00:03Z', { response: `Hello ${user}!` })).status, 201);
  }

  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
    bearer['producer-ta'] = await token('ark', 'ta', ['producer']);
    bearer['producer-tb'] = await token('ark', 'tb', ['producer']);
    bearer.alice = await token('alice', 'ta', ['reader']);
    bearer.bob = await token('bob', 'ta', ['reader']);
    bearer.adminA = await token('boss', 'ta', ['admin']);
    bearer.adminB = await token('boss', 'tb', ['admin']);
    await seedQuery('ta', 'alice', 's-alice', 'q-alice', 'mcp-alice');
    await seedQuery('ta', 'bob', 's-bob', 'q-bob', 'mcp-bob');
    await seedQuery('tb', 'carol', 's-carol', 'q-carol', 'mcp-carol');
  });
  after(async () => {
    for (const client of clients) await client.close();
    await broker.close();
  });

  it('lists its tools and resources', async () => {
    const client = await connect('alice');
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(tools, ['find_tool_calls', 'get_query_completion', 'get_resume_context', 'get_session', 'list_sessions']);
    const templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate).sort();
    assert.deepEqual(templates, ['ark://queries/{queryId}', 'ark://sessions/{sessionId}']);
    const resources = (await client.listResources()).resources.map((r) => r.uri);
    assert.deepEqual(resources, ['ark://sessions/s-alice'], 'a reader lists only the sessions they own');
  });

  it("answers the caller's own sessions, queries, tool calls, completions and resume context", async () => {
    const client = await connect('alice');
    const sessions = value(await call(client, 'list_sessions', {}));
    assert.deepEqual(
      sessions.items.map((s: any) => s.sessionId),
      ['s-alice'],
    );
    const session = value(await call(client, 'get_session', { sessionId: 's-alice' }));
    assert.equal(session.session.sessionId, 's-alice');
    assert.deepEqual(
      session.queries.items.map((q: any) => [q.queryName, q.phase, q.toolCalls.items.map((t: any) => t.mcpSessionId)]),
      [['q-alice', 'done', ['mcp-alice']]],
    );
    const calls = value(await call(client, 'find_tool_calls', { mcpSessionId: 'mcp-alice' }));
    assert.deepEqual(
      calls.items.map((t: any) => [t.sessionId, t.toolName, t.status]),
      [['s-alice', 'search', 'completed']],
    );
    const completion = value(await call(client, 'get_query_completion', { queryId: 'q-alice' }));
    assert.deepEqual(completion.completion, { text: 'Hello alice!', finishReason: 'stop', chunks: 2, streamCompleted: true, truncated: false });
    assert.equal(completion.query.queryName, 'q-alice');
    const resume = value(await call(client, 'get_resume_context', { queryId: 'q-alice' }));
    const rest = await fetch(`${broker.url}/v2/queries/q-alice/resume-context`, { headers: { authorization: `Bearer ${bearer.alice}` } });
    const restBody: any = await rest.json();
    assert.deepEqual(resume, restBody, 'the same answer as GET /v2/queries/:id/resume-context');
    assert.deepEqual(resume.mcp.sessionIds, ['mcp-alice']);
    assert.equal(resume.query.sessionId, 's-alice');
    assert.equal(resume.toolCalls.items[0].result, 'found');

    const read = await client.readResource({ uri: 'ark://sessions/s-alice' });
    assert.equal(JSON.parse((read.contents[0] as { text: string }).text).session.sessionId, 's-alice');
    const query = await client.readResource({ uri: 'ark://queries/q-alice' });
    assert.equal(JSON.parse((query.contents[0] as { text: string }).text).sessionId, 's-alice');
  });

  it("never shows another owner's or another tenant's session", async () => {
    const alice = await connect('alice');
    const adminB = await connect('adminB');
    for (const [client, sessionId, queryId, mcpSessionId] of [
      [alice, 's-bob', 'q-bob', 'mcp-bob'],
      [alice, 's-carol', 'q-carol', 'mcp-carol'],
      [adminB, 's-alice', 'q-alice', 'mcp-alice'],
    ] as const) {
      const session = await call(client, 'get_session', { sessionId });
      assert.equal(session.isError, true, `${sessionId}: ${session.content[0]?.text}`);
      assert.match(session.content[0]!.text, /not found/);
      assert.equal((await call(client, 'get_query_completion', { queryId })).isError, true);
      assert.equal((await call(client, 'get_resume_context', { queryId })).isError, true);
      assert.deepEqual(value(await call(client, 'find_tool_calls', { mcpSessionId })).items, []);
      await assert.rejects(client.readResource({ uri: `ark://sessions/${sessionId}` }));
      await assert.rejects(client.readResource({ uri: `ark://queries/${queryId}` }));
    }
    assert.deepEqual(
      value(await call(adminB, 'list_sessions', {})).items.map((s: any) => s.sessionId),
      ['s-carol'],
    );
    const adminA = await connect('adminA');
    assert.deepEqual(
      value(await call(adminA, 'list_sessions', {}))
        .items.map((s: any) => s.sessionId)
        .sort(),
      ['s-alice', 's-bob'],
      "an admin sees the tenant's sessions",
    );
  });

  it('counts as reading: RATE_LIMIT_WRITES_PER_SECOND does not limit MCP calls', async () => {
    const limited = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, RATE_LIMIT_WRITES_PER_SECOND: '1' }, broker.database);
    try {
      const client = new Client({ name: 'limited', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${limited.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${bearer.alice}` } } }),
      );
      for (let i = 0; i < 5; i++) assert.equal(value(await call(client, 'list_sessions', {})).items.length, 1);
      await client.close();
      const writes = await Promise.all(
        [1, 2, 3].map(() =>
          postJson(`${limited.url}/v2/events`, { sessionId: 's-limit', type: 'custom.x', data: {} }, { authorization: `Bearer ${bearer['producer-ta']}` }),
        ),
      );
      assert.ok(
        writes.some((w) => w.status === 429),
        'writes are limited',
      );
    } finally {
      await limited.close();
    }
  });

  it('needs credentials like the REST API', async () => {
    const anonymous = await fetch(`${broker.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(anonymous.status, 401);
    const client = new Client({ name: 'no-token', version: '1.0.0' });
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(`${broker.url}/mcp`))));
  });
});
