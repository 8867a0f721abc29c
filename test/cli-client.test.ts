import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { BrokerClient } from '#ark/client';
import { runCli, startCli } from './support/cli.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';
import { createTestDatabase } from './support/test-database.js';

// The CLI's client commands (sessions, sessions show, tail, queries replay) against a broker with
// authentication on: a JWT by --token, an API key by ARK_BROKER_TOKEN; and the progress bars.

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const jwt = (sub: string, roles: string[]) =>
  new SignJWT({ sub, tenant: 't1', roles }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
const ESC = '\u001b[';

const operationEvent = (reason: string, second: number, data: Record<string, unknown>) => ({
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
  eventType: 'Normal',
  reason,
  message: reason,
  data: { queryId: 'uid-ask', queryName: 'ask-1', queryNamespace: 'default', sessionId: 'questions', ...data },
});

describe('ark-broker client commands (authenticated broker)', () => {
  let broker: TestBroker;
  let token: string;
  let apiKey: string;
  let client: BrokerClient;
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { NO_COLOR: '1', ...env });

  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
    token = await jwt('alice', ['producer', 'reader', 'admin']);
    client = new BrokerClient({ baseUrl: broker.url, token });
    const created = await runCli(['keys', 'create', '-t', 't1', '-n', 'cli-test', '-r', 'reader,admin'], { DATABASE_URL: broker.database.url });
    apiKey = /key: (\S+)/.exec(created.stdout)![1]!;

    await client.postOperationEvent(operationEvent('QueryExecutionStart', 1, { input: 'Which colour?' }));
    await client.postOperationEvent(
      operationEvent('ToolCallStart', 2, {
        toolName: 'ask_question',
        toolType: 'mcp',
        toolId: 'call-1',
        mcpSessionId: 'mcp-7',
        parameters: { question: 'Which colour?' },
      }),
    );
    await client.postOperationEvent(
      operationEvent('ToolCallComplete', 3, { toolName: 'ask_question', toolType: 'mcp', toolId: 'call-1', mcpSessionId: 'mcp-7', result: 'blue' }),
    );
    const chunk = (content: string) => ({
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { content } }],
      ark: { query: 'uid-ask', session: 'questions' },
    });
    await client.uploadChunks('ask-1', [chunk('The answer '), chunk('is blue.')]);
    await client.completeChunks('ask-1');
    await client.postOperationEvent(operationEvent('QueryExecutionComplete', 5, { response: 'The answer is blue.' }));
    await client.appendEvents({ sessionId: 'other', type: 'custom.note', data: { n: 1 } });
  });
  after(() => broker.close());

  it('`sessions` lists a table with --token, JSON lines with ARK_BROKER_TOKEN (an API key), filtered', async () => {
    const table = await cli(['sessions', '--url', broker.url, '--token', token]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /┌/);
    assert.match(table.stdout, /questions\s+│ idle/);
    assert.match(table.stdout, /other/);

    const json = await cli(['sessions', '--json', '--search', 'quest'], { ARK_BROKER_URL: broker.url, ARK_BROKER_TOKEN: apiKey });
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((s) => s.sessionId),
      ['questions'],
    );
    assert.equal(lines[0].queryCount, 1);

    const paged = await cli(['sessions', '--json', '--limit', '1', '--all'], { ARK_BROKER_URL: broker.url, ARK_BROKER_TOKEN: apiKey });
    assert.equal(paged.stdout.trim().split('\n').length, 2);
    const onePage = await cli(['sessions', '--limit', '1'], { ARK_BROKER_URL: broker.url, ARK_BROKER_TOKEN: apiKey });
    assert.match(onePage.stdout, /more: --cursor \S+/);
  });

  it('refuses without credentials: a one-line error and exit code 1', async () => {
    const refused = await cli(['sessions', '--url', broker.url]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /error 401 unauthorized/);
    const forged = await cli(['sessions', 'show', 'questions', '--url', broker.url, '--token', 'not-a-token']);
    assert.equal(forged.code, 1);
    assert.match(forged.stderr, /401/);
    const unreachable = await cli(['sessions', '--url', 'http://127.0.0.1:1', '--token', token]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the broker/);
  });

  it('`sessions show` draws the tree: query, tool call with parameters, result and MCP session, chunks; coloured on request', async () => {
    const shown = await cli(['sessions', 'show', 'questions', '--url', broker.url, '--token', token]);
    assert.equal(shown.code, 0, shown.stderr);
    const text = shown.stdout;
    assert.match(text, /^session questions idle/m);
    assert.match(text, /query ask-1 \(uid-ask\) done/);
    assert.match(text, /tool ask_question \(mcp\) completed .*mcp session mcp-7/);
    assert.match(text, /parameters \{"question":"Which colour\?"\}/);
    assert.match(text, /result blue/);
    assert.match(text, /2 chunks, stream completed/);
    assert.match(text, /response The answer is blue\./);
    assert.ok(!text.includes(ESC), 'NO_COLOR: no escape codes');
    const coloured = await runCli(['sessions', 'show', 'questions', '--url', broker.url, '--token', token], { FORCE_COLOR: '1' });
    assert.ok(coloured.stdout.includes(`${ESC}32mdone`), 'done in green');
    const json = await cli(['sessions', 'show', 'questions', '--json', '--url', broker.url, '--token', token]);
    assert.equal(JSON.parse(json.stdout).session.sessionId, 'questions');
    assert.match((await cli(['sessions', 'show', 'nope', '--url', broker.url, '--token', token])).stderr, /404 not_found/);
  });

  it('`tail` follows a session with a token, filters by type, and prints where to resume', async () => {
    const tail = startCli(['tail', '--session', 'questions', '--json', '--type', 'tool.call.*,custom.*'], {
      ARK_BROKER_URL: broker.url,
      ARK_BROKER_TOKEN: token,
      NO_COLOR: '1',
    });
    try {
      await tail.waitForOutput(/tool\.call\.completed/);
      await client.appendEvents({ sessionId: 'questions', type: 'custom.live', data: { live: true } });
      await tail.waitForOutput(/custom\.live/);
    } finally {
      assert.equal(await tail.stop(), 0);
    }
    const lines = tail
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((e) => e.type),
      ['tool.call.started', 'tool.call.completed', 'custom.live'],
    );
    const last = lines.at(-1).sequence;
    assert.match(tail.stderr(), new RegExp(`resume with --cursor ${last}`));

    const feed = startCli(['tail', '--cursor', '0:0', '--query', 'ask-1'], { ARK_BROKER_URL: broker.url, ARK_BROKER_TOKEN: apiKey, NO_COLOR: '1' });
    try {
      await feed.waitForOutput(/query\.completed/);
    } finally {
      await feed.stop();
    }
    assert.match(feed.stdout(), /questions#\d+ tool\.call\.completed ask_question query ask-1/);
    assert.doesNotMatch(feed.stdout(), /other#/);
  });

  it('`queries replay` streams the answer, its events on stderr', async () => {
    const replay = await cli(['queries', 'replay', 'uid-ask', '--url', broker.url, '--token', token, '--max-gap', '50']);
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal(replay.stdout, 'The answer is blue.\n');
    assert.match(replay.stderr, /\[tool\.call\.completed ask_question\]/);
    const quiet = await cli(['queries', 'replay', 'ask-1', '--fast', '--quiet', '--url', broker.url, '--token', token]);
    assert.equal(quiet.stdout, 'The answer is blue.\n');
    assert.equal(quiet.stderr, '');
  });

  it('`projections rebuild` and `migrate` draw progress bars with rate and ETA', async () => {
    const rebuilt = await cli(['projections', 'rebuild', '--progress'], { DATABASE_URL: broker.database.url });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.match(rebuilt.stderr, /rebuilding \[.*\] 100% \| (\d+)\/\1 events \| \d+ events\/s \| ETA/);
    assert.match(rebuilt.stdout, /rebuilt .* events/);

    const fresh = await createTestDatabase();
    try {
      const migrated = await cli(['migrate', '--progress'], { DATABASE_URL: fresh.url });
      assert.equal(migrated.code, 0, migrated.stderr);
      assert.match(migrated.stderr, /migrating \[.*\] 100% \| (\d+)\/\1 migrations \| \d+ migrations\/s \| ETA/);
      assert.match(migrated.stderr, /applying 0001_/, 'the log lines above the bar');
      assert.match(migrated.stdout, /applied: 0001_/);
    } finally {
      await fresh.drop();
    }
  });
});
