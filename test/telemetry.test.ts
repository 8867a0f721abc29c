import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { spawnBroker } from './support/broker-process.js';
import { CLI } from './support/cli.js';
import { createTestDatabase } from './support/test-database.js';

interface LogLine {
  level: string;
  msg: string;
  context?: string;
  [field: string]: unknown;
}

const jsonLines = (output: string): LogLine[] =>
  output
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });

describe('logs by the conventions', () => {
  it('LOG_FORMAT=json: a configuration that stops start-up is a fatal JSON line too, and nothing is plain text', async () => {
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: { ...process.env, DATABASE_URL: 'postgres://127.0.0.1:1/none', PORT: 'eighty', LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    const lines = jsonLines(output);
    const fatal = lines.find((l) => l.level === 'fatal');
    assert.ok(fatal, output);
    assert.match(fatal.msg, /PORT="eighty"/);
    assert.equal(fatal.context, 'Broker');
  });

  it('the access log: one JSON line per request, failures by level, successes sampled, probes only when they fail', async () => {
    const database = await createTestDatabase();
    try {
      const run = async (env: Record<string, string>) => {
        const broker = await spawnBroker(database.url, { LOG_FORMAT: 'json', LOG_LEVEL: 'info', ...env });
        const posted = await fetch(`${broker.url}/v2/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'access-log-test' },
          body: JSON.stringify({ sessionId: 'logged', type: 'custom.a', data: {} }),
        });
        assert.equal(posted.status, 201);
        assert.equal((await fetch(`${broker.url}/v2/sessions/logged/events?limit=oops`)).status, 400);
        assert.equal((await fetch(`${broker.url}/health`)).status, 200);
        broker.child.kill('SIGTERM'); // the access log is buffered: closing flushes it
        assert.equal((await broker.exited).code, 0);
        return { lines: jsonLines(broker.output()).filter((l) => l.context === 'Access'), requestId: posted.headers.get('x-request-id') };
      };

      const sampled = await run({ ACCESS_LOG_SAMPLE_RATE: '1' });
      const post = sampled.lines.find((l) => l.method === 'POST');
      assert.ok(post, JSON.stringify(sampled.lines));
      assert.equal(post.level, 'info');
      assert.equal(post.route, '/v2/events');
      assert.equal(post.path, '/v2/events');
      assert.equal(post.status, 201);
      assert.equal(post.requestId, sampled.requestId);
      assert.equal(post.tenant, 'default');
      assert.equal(post.userAgent, 'access-log-test');
      assert.equal(typeof post.durationMs, 'number');
      const refused = sampled.lines.find((l) => l.status === 400);
      assert.equal(refused?.level, 'warn');
      assert.equal(refused?.path, '/v2/sessions/logged/events', 'no query string: it may carry cursors or tokens');
      assert.equal(sampled.lines.filter((l) => l.route === '/health').length, 0, 'a healthy probe is not logged');

      const unsampled = await run({ ACCESS_LOG_SAMPLE_RATE: '0' });
      assert.deepEqual(
        unsampled.lines.map((l) => [l.level, l.status]),
        [['warn', 400]],
        'at LOG_LEVEL=info without sampling only the failure is logged',
      );

      const debug = await run({ LOG_LEVEL: 'debug' });
      assert.ok(
        debug.lines.some((l) => l.level === 'debug' && l.status === 201),
        'LOG_LEVEL=debug logs every request',
      );
    } finally {
      await database.drop();
    }
  });
});
